"""The model zoo: published self-supervised checkpoints by name (``--ckpt zoo:NAME``).

Each entry says where the authors publish the file, its SHA-256 when published (torchvision's
file names carry a hash prefix; most SSL releases publish none), the backbone and checkpoint
format it loads as, and the numbers its paper reports with the protocol used. Files are cached
in ``$TORCH_HOME/hub/checkpoints`` (``torch.hub.get_dir()``), downloaded with
``torch.hub.download_url_to_file`` when the machine is online; offline, the error says where
to put the file. Releases behind a web page (Google Drive) are ``manual``: vprop prints the
page and the path.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from vprop.errors import VpropError

_FB = "https://dl.fbaipublicfiles.com"


@dataclass(frozen=True)
class ZooEntry:
    """One published checkpoint.

    Attributes:
        name: Zoo name (``zoo:<name>``).
        arch: vprop alias or timm name it loads into.
        format: Checkpoint format (a key of ``vprop.checkpoints.formats.ADAPTERS``).
        url: Where the authors publish it.
        filename: Cache file name.
        sha256: Full published SHA-256, or ``None``.
        hash_prefix: Published SHA-256 prefix (torchvision file names), or ``None``.
        manual: The URL is a web page (no direct download).
        paper: Published figures, e.g. ``{'davis': {'J&F': 61.8, ...}}``.
        protocol: Which protocol/preset produced ``paper``, and its source.
    """

    name: str
    arch: str
    format: str
    url: str
    filename: str
    sha256: str | None = None
    hash_prefix: str | None = None
    manual: bool = False
    paper: dict[str, dict[str, float]] = field(default_factory=dict)
    protocol: str = ""


def _dino(name: str, arch: str, stem: str, jf: tuple[float, float, float]) -> ZooEntry:
    return ZooEntry(
        name, arch, "dino", f"{_FB}/dino/{stem}/{stem}.pth", f"{stem}.pth",
        paper={"davis": {"J&F": jf[0], "J": jf[1], "F": jf[2]}},
        protocol="DINO paper Table 5 (DAVIS-2017 val, preset `dino`: 480p, top-k 5, 7 frames)")


def _dinov2(size: str, reg: bool) -> ZooEntry:
    stem = f"dinov2_vit{size}14" + ("_reg4" if reg else "")
    folder = f"dinov2_vit{size}14"
    alias = f"dinov2_vit{size}14" + ("_reg" if reg else "")
    return ZooEntry(alias, alias, "dinov2", f"{_FB}/dinov2/{folder}/{stem}_pretrain.pth",
                    f"{stem}_pretrain.pth",
                    protocol="no label-propagation figures in the DINOv2 paper")


_SIAM_SOURCE = "reported by SiamMAE, quoted in CropMAE Table 1 (preset `cropmae`)"
_CROPMAE_DRIVE = "https://drive.google.com/file/d/"

ENTRIES: tuple[ZooEntry, ...] = (
    _dino("dino_vits16", "vit_small_patch16_224", "dino_deitsmall16_pretrain",
          (61.8, 60.2, 63.4)),
    _dino("dino_vits8", "vit_small_patch8_224", "dino_deitsmall8_pretrain", (69.9, 66.6, 73.1)),
    _dino("dino_vitb16", "vit_base_patch16_224", "dino_vitbase16_pretrain", (62.3, 60.7, 63.9)),
    _dino("dino_vitb8", "vit_base_patch8_224", "dino_vitbase8_pretrain", (71.4, 67.9, 74.9)),
    *(_dinov2(size, reg) for size in ("s", "b", "l", "g") for reg in (False, True)),
    ZooEntry("mae_vitb16", "vit_base_patch16_224", "mae",
             f"{_FB}/mae/pretrain/mae_pretrain_vit_base.pth", "mae_pretrain_vit_base.pth",
             paper={"davis": {"J&F": 53.5, "J": 52.1, "F": 55.0}, "vip": {"mIoU": 28.1},
                    "jhmdb": {"PCK@0.1": 44.6, "PCK@0.2": 73.4}}, protocol=_SIAM_SOURCE),
    ZooEntry("mae_vitl16", "vit_large_patch16_224", "mae",
             f"{_FB}/mae/pretrain/mae_pretrain_vit_large.pth", "mae_pretrain_vit_large.pth",
             protocol="no label-propagation figures published for MAE ViT-L/16 (image)"),
    ZooEntry("crw", "resnet18", "crw",
             "https://github.com/ajabri/videowalk/raw/master/pretrained.pth", "crw_pretrained.pth",
             paper={"davis": {"J&F": 67.6, "J": 64.8, "F": 70.2}, "vip": {"mIoU": 38.6},
                    "jhmdb": {"PCK@0.1": 58.8, "PCK@0.2": 80.3}},
             protocol="CRW paper Tables 1-2 (preset `crw`, temperature 0.05 in its README "
                      "command)"),
    ZooEntry("cropmae_in_vits16", "vits16", "cropmae",
             _CROPMAE_DRIVE + "1RTkARjzkM9S3OO87AzVeDbYAF_b2zA-2/view", "cropmae_in.pth",
             manual=True,
             paper={"davis": {"J&F": 60.4, "J": 57.6, "F": 63.3}, "vip": {"mIoU": 33.3},
                    "jhmdb": {"PCK@0.1": 43.6, "PCK@0.2": 72.0}},
             protocol="CropMAE Table 1 (preset `cropmae`, DAVIS scored at 480x880)"),
    ZooEntry("cropmae_k400_vits16", "vits16", "cropmae",
             _CROPMAE_DRIVE + "1oMXiX_uyGzyQB7S-MYkdJvKFmIuPXkYb/view", "cropmae_k400.pth",
             manual=True,
             paper={"davis": {"J&F": 58.6, "J": 55.8, "F": 61.4}, "vip": {"mIoU": 33.7},
                    "jhmdb": {"PCK@0.1": 42.9, "PCK@0.2": 71.1}},
             protocol="CropMAE Table 1 (preset `cropmae`, DAVIS scored at 480x880)"),
    ZooEntry("moco_v2_r50", "resnet50", "moco",
             f"{_FB}/moco/moco_checkpoints/moco_v2_800ep/moco_v2_800ep_pretrain.pth.tar",
             "moco_v2_800ep_pretrain.pth.tar",
             protocol="baseline of the CRW/VFS papers (preset `crw`)"),
    ZooEntry("simsiam_r50", "resnet50", "simsiam",
             f"{_FB}/simsiam/models/100ep/pretrain/checkpoint_0099.pth.tar",
             "simsiam_100ep.pth.tar", protocol="baseline of the VFS paper (preset `crw`)"),
    ZooEntry("imagenet_r18", "resnet18", "plain",
             "https://download.pytorch.org/models/resnet18-f37072fd.pth", "resnet18-f37072fd.pth",
             hash_prefix="f37072fd", protocol="supervised ImageNet baseline (preset `crw`)"),
)
ZOO: dict[str, ZooEntry] = {entry.name: entry for entry in ENTRIES}


def cache_dir() -> Path:
    """``$TORCH_HOME/hub/checkpoints`` (torch's own checkpoint cache)."""
    import torch.hub

    return Path(torch.hub.get_dir()) / "checkpoints"


def get_entry(name: str) -> ZooEntry:
    """The entry called ``name`` (without ``zoo:``).

    Raises:
        VpropError: Unknown name; the message lists the zoo.
    """
    if name not in ZOO:
        raise VpropError(f"unknown zoo checkpoint {name!r}; `vprop models` lists: "
                         f"{', '.join(ZOO)}")
    return ZOO[name]


def verify(entry: ZooEntry, path: Path) -> None:
    """Check a file against the entry's published hash (full or prefix), if any.

    Raises:
        VpropError: The hash differs (a corrupt or different file).
    """
    if entry.sha256 is None and entry.hash_prefix is None:
        return
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    actual = digest.hexdigest()
    expected = entry.sha256 or entry.hash_prefix
    if not actual.startswith(expected):
        raise VpropError(f"SHA-256 {actual[:16]}... does not match the published {expected} "
                         f"of zoo:{entry.name}; delete the file to download it again", path)


def fetch(entry: ZooEntry, directory: Path | None = None) -> Path:
    """Return the entry's local file, downloading it (hash-checked) when missing.

    Args:
        entry: The zoo entry.
        directory: Cache folder; default :func:`cache_dir`.

    Returns:
        Path of the verified file.

    Raises:
        VpropError: Manual release, offline or failed download, or a hash mismatch.
    """
    path = Path(directory or cache_dir()) / entry.filename
    if not path.is_file():
        if entry.manual:
            raise VpropError(f"zoo:{entry.name} is published on a web page: download it from "
                             f"{entry.url} and save it as {path}")
        _download(entry, path)
    verify(entry, path)
    return path


def _download(entry: ZooEntry, path: Path) -> None:
    import torch.hub

    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        torch.hub.download_url_to_file(entry.url, str(path), hash_prefix=None, progress=True)
    except (OSError, ValueError) as err:
        path.unlink(missing_ok=True)
        raise VpropError(f"cannot download zoo:{entry.name} from {entry.url} ({err}); when "
                         f"offline, put the file at {path}") from None


def resolve_zoo(spec: str) -> tuple[ZooEntry, Path]:
    """``zoo:NAME`` -> (entry, local verified file)."""
    entry = get_entry(spec.removeprefix("zoo:"))
    return entry, fetch(entry)


def _figures(entry: ZooEntry) -> str:
    parts = []
    for task, values in entry.paper.items():
        parts.append(f"{task} " + " ".join(f"{k} {v:.1f}" for k, v in values.items()))
    return "; ".join(parts) or "-"


def zoo_table() -> list[dict[str, str]]:
    """One row per zoo entry: name, arch, format, hash, url, published figures, protocol."""
    return [{
        "name": f"zoo:{e.name}", "arch": e.arch, "format": e.format,
        "sha256": e.sha256 or (f"{e.hash_prefix}..." if e.hash_prefix else "not published"),
        "url": e.url + (" (manual download)" if e.manual else ""),
        "paper": _figures(e), "protocol": e.protocol,
    } for e in ENTRIES]
