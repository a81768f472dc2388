"""The one table of paper protocols: every entry resolves for every task; rsp and catmae carry
their published numbers; no code outside the table branches on a preset's name."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from vprop.benchmarks.papers import PAPERS, PRESETS, describe_papers, get_preset, protocol
from vprop.benchmarks.protocols import TASK_DEFAULTS, SizeRule
from vprop.cli.main import main

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", sorted(PAPERS))
@pytest.mark.parametrize("task", sorted(TASK_DEFAULTS))
def test_every_paper_resolves_for_every_task(name, task):
    resolved = protocol(task, name)
    assert resolved.input_size.resolve((480, 854), 16, False)[0] % 16 == 0
    preset = get_preset(name).override(**resolved.overrides())  # valid engine parameters
    assert preset.name == name and preset is not None
    assert json.loads(json.dumps(resolved.to_dict()))  # plain data for results.json


def test_rsp_is_dinos_script_with_its_published_arguments():
    # RSP eval_video_segmentation_davis.py: n_last_frames 30, size_mask_neighborhood 30,
    # topk 7, temperature 0.1, otherwise DINO's code.
    rsp, dino = get_preset("rsp"), get_preset("dino")
    assert (rsp.temperature, rsp.topk, rsp.radius, rsp.context) == (0.1, 7, 30, 30)
    same = ("shape", "restrict_first", "pad_start", "label_downsample", "minmax_output", "std",
            "input_resize", "nearest", "first_frame_output")
    assert all(getattr(rsp, key) == getattr(dino, key) for key in same)
    # short side 480, long side floored to x64: 880x480 frames of DAVIS_480_880 -> 480x832
    assert protocol("davis", "rsp").input_size.resolve((480, 880), 16, False) == (480, 832)


def test_catmae_is_crws_code_with_its_published_arguments():
    # CatMAE DAVIS.md (ViT-S/16): --temperature 0.7 --topk 8 --radius 18 --videoLen 20, frames
    # of DAVIS_480_880.
    catmae, cropmae = get_preset("catmae"), get_preset("cropmae")
    assert (catmae.temperature, catmae.topk, catmae.radius, catmae.context) == (0.7, 8, 18, 20)
    assert (catmae.shape, catmae.pad_start, catmae.label_downsample) == (
        cropmae.shape, cropmae.pad_start, cropmae.label_downsample)
    assert protocol("davis", "catmae").input_size == SizeRule("fixed", size=(480, 880))


def test_unknown_preset_gets_each_tasks_default():
    for task, default in TASK_DEFAULTS.items():
        assert protocol(task, "my-own") == default
    assert protocol("vip", "cropmae").overrides() == {"topk": 10}
    assert PRESETS == {name: paper.preset for name, paper in PAPERS.items()}


def test_vprop_presets_prints_the_table():
    result = CliRunner().invoke(main, ["presets", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == json.loads(json.dumps(describe_papers()))
    text = CliRunner().invoke(main, ["presets", "rsp"]).stdout
    assert text.startswith("rsp\n") and "top-k 7" in text and "cropmae" not in text


def test_no_code_outside_the_table_branches_on_a_preset_name():
    names = "|".join(PAPERS)
    quoted = re.compile(rf"""["']({names})["']""")
    checked = [*REPO.glob("propagation/*.py"), *REPO.glob("benchmarks/*/task.py"),
               REPO / "benchmarks" / "tasks.py", REPO / "benchmarks" / "protocols.py",
               REPO / "benchmarks" / "pipeline.py"]
    offenders = [f"{path.name}:{number}" for path in checked
                 for number, line in enumerate(path.read_text().splitlines(), 1)
                 if quoted.search(line) and not line.lstrip().startswith("#")
                 and "pos_embed" not in line]  # "dino" is also a pos-embed mode
    assert offenders == []
