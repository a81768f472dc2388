"""Every paper's evaluation protocol, as data in one table: engine preset + per-task protocol.

A :class:`Paper` holds the propagation engine's parameters (a
:class:`~vprop.propagation.presets.Preset`) and, for each task, a
:class:`~vprop.benchmarks.protocols.TaskProtocol` (input-size rule, preset overrides, decode
top-k, score size, output resize). Tasks read their protocol with :func:`protocol`, a table
lookup; nothing in vprop branches on a preset's name. Adding a preset is adding one entry to
:data:`PAPERS` (README, "How to add a preset"). Pure Python: no torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from vprop.benchmarks.protocols import TASK_DEFAULTS, SizeRule, TaskProtocol
from vprop.errors import VpropError
from vprop.propagation.presets import Preset

DAVIS_480_880 = SizeRule("fixed", size=(480, 880))
DINO_SHORT_SIDE = SizeRule("short-side", side=480, multiple=64)


@dataclass(frozen=True)
class Paper:
    """One paper's label-propagation protocol.

    Attributes:
        preset: Engine parameters (temperature, top-k, radius, context, normalisation, ...).
        source: Where the numbers come from (reference code and line, or README command).
        tasks: Task name -> changes to :data:`~vprop.benchmarks.protocols.TASK_DEFAULTS`
            (field -> value); a task absent here uses the default protocol.
        notes: What a user should know (e.g. the score size the paper's table used).
    """

    preset: Preset
    source: str
    tasks: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: str = ""

    def protocol(self, task: str) -> TaskProtocol:
        """The resolved protocol of ``task`` for this paper."""
        return default_protocol(task).replace(**self.tasks.get(task, {}))


def _crw_family(name: str, temperature: float, topk: int, radius: float,
                context: int = 20) -> Preset:
    """A preset of videowalk's (CRW) propagation code, which CropMAE, SiamMAE, CatMAE reuse."""
    return Preset(name=name, temperature=temperature, topk=topk, radius=radius, shape="circle",
                  context=context, restrict_first=False, pad_start=True,
                  label_downsample="bilinear", minmax_output=False)


def _dino_family(name: str, topk: int, radius: float, context: int) -> Preset:
    """A preset of DINO's eval_video_segmentation.py (temperature 0.1 hard-coded)."""
    return Preset(name=name, temperature=0.1, topk=topk, radius=radius, shape="square",
                  context=context, restrict_first=True, pad_start=False,
                  label_downsample="nearest", minmax_output=True, std=(0.228, 0.224, 0.225),
                  input_resize="uint8", nearest="pil", first_frame_output="ground-truth")


PAPERS: dict[str, Paper] = {
    "cropmae": Paper(
        preset=_crw_family("cropmae", temperature=0.7, topk=7, radius=20),
        source="CropMAE downstreams/propagation/start.py davis_prop_args / vip_prop_args; "
               "src/data/vos.py (SiamMAE's evaluation code, built on CRW's)",
        tasks={"davis": {"input_size": DAVIS_480_880},
               "vip": {"preset_overrides": (("topk", 10),)}},
        notes="Table 1 scores DAVIS at 480x880 (--score-size 480x880).",
    ),
    "crw": Paper(
        preset=_crw_family("crw", temperature=0.05, topk=10, radius=12),
        source="videowalk README DAVIS command: --topk 10 --videoLen 20 --radius 12 "
               "--temperature 0.05 --cropSize -1 (test.py's argparse default T is 0.07); "
               "JHMDB: test_utils.process_pose(topk=3)",
        tasks={"jhmdb": {"decode_topk": 3}},
    ),
    "dino": Paper(
        preset=_dino_family("dino", topk=5, radius=12, context=7),
        source="DINO eval_video_segmentation.py argparse defaults (n_last_frames 7, "
               "size_mask_neighborhood 12, topk 5), read_frame (cv2.resize of the uint8 frame, "
               "std 0.228), PIL NEAREST for read_seg and the output",
        tasks={"davis": {"input_size": DINO_SHORT_SIDE}},
    ),
    "rsp": Paper(
        preset=_dino_family("rsp", topk=7, radius=30, context=30),
        source="RSP (Jang et al., ICML 2024) eval_video_segmentation_davis.py: DINO's script "
               "with n_last_frames 30, size_mask_neighborhood 30, topk 7, temperature 0.1, "
               "data_path DAVIS_480_880",
        tasks={"davis": {"input_size": DINO_SHORT_SIDE}},
        notes="Run on DAVIS_480_880 (880x480 frames: 480x832 input); the paper's DAVIS "
              "figures are scored at 480x880 (--score-size 480x880).",
    ),
    "catmae": Paper(
        preset=_crw_family("catmae", temperature=0.7, topk=8, radius=18),
        source="CatMAE downstream/davis2017-seg/DAVIS.md: test_mae.py --temperature 0.7 "
               "--topk 8 --radius 18 --videoLen 20 on davis_vallist_480_880.txt (ViT-S/16; "
               "their ViT-S/8 runs use 0.5, 12, 32, 20: --temperature 0.5 --topk 12 "
               "--radius 32)",
        tasks={"davis": {"input_size": DAVIS_480_880}},
        notes="Scored at 480x880 in the paper (--score-size 480x880).",
    ),
}

PRESETS: dict[str, Preset] = {name: paper.preset for name, paper in PAPERS.items()}


def default_protocol(task: str) -> TaskProtocol:
    """The protocol of ``task`` for a preset no paper entry describes.

    Raises:
        VpropError: Unknown task.
    """
    if task not in TASK_DEFAULTS:
        raise VpropError(f"unknown task {task!r}; choose one of {sorted(TASK_DEFAULTS)}")
    return TASK_DEFAULTS[task]


def get_preset(name: str) -> Preset:
    """Return the named paper's engine preset.

    Raises:
        VpropError: The name is unknown.
    """
    try:
        return PRESETS[name]
    except KeyError:
        raise VpropError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}") from None


def protocol(task: str, preset_name: str) -> TaskProtocol:
    """The protocol of ``task`` for a preset (the task's default for an unknown preset name)."""
    paper = PAPERS.get(preset_name)
    return paper.protocol(task) if paper else default_protocol(task)


def describe_papers() -> dict[str, Any]:
    """Every paper's preset and per-task protocol as plain data (``vprop presets --json``)."""
    return {
        name: {"preset": paper.preset.to_dict(), "source": paper.source, "notes": paper.notes,
               "tasks": {task: paper.protocol(task).to_dict() for task in TASK_DEFAULTS}}
        for name, paper in PAPERS.items()
    }
