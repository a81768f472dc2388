"""The model zoo: every entry builds its arch and reads its declared format; fetching."""

from __future__ import annotations

import dataclasses
import hashlib

import pytest
import torch

from vprop.checkpoints import create_backbone, load_backbone
from vprop.checkpoints.formats import detect_format
from vprop.checkpoints.registry import arch_info
from vprop.checkpoints.zoo import ENTRIES, ZOO, fetch, resolve_zoo, zoo_table
from vprop.errors import VpropError

SHALLOW = {"depth": 1}  # ViT-L/g at full depth are too large for a unit test


def _source_state(arch: str) -> tuple[dict, dict]:
    kwargs = SHALLOW if arch_info(arch).family == "vit" else {}
    torch.manual_seed(0)
    model = create_backbone(arch, **kwargs)
    return {k: v.detach().clone().half() if v.is_floating_point() else v.clone()
            for k, v in model.state_dict().items()}, kwargs


@pytest.mark.parametrize("entry", ENTRIES, ids=[e.name for e in ENTRIES])
def test_every_zoo_entry_accepts_a_checkpoint_in_its_format(tmp_path, writers, entry):
    state, kwargs = _source_state(entry.arch)
    path = tmp_path / entry.filename
    raw = writers[entry.format](state)
    assert detect_format(raw) == entry.format  # --ckpt-format auto finds it
    torch.save(raw, path)
    extractor = load_backbone(entry.arch, path, ckpt_format=entry.format, **kwargs)
    info = extractor.describe()
    assert info["format"] == entry.format and info["arch"] == entry.arch
    side = 2 * extractor.stride * 2
    assert extractor(torch.zeros(1, 3, side, side)).shape[-2:] == (4, 4)


def test_zoo_entries_are_complete():
    assert {"dino_vits16", "dino_vitb8", "dinov2_vits14_reg", "dinov2_vitg14", "mae_vitb16",
            "crw", "cropmae_in_vits16", "cropmae_k400_vits16"} <= set(ZOO)
    for entry in ENTRIES:
        assert entry.url.startswith("https://") and entry.filename and entry.protocol
    assert ZOO["crw"].paper["davis"]["J&F"] == 67.6  # CRW paper, Table 1
    assert ZOO["cropmae_in_vits16"].paper["davis"]["J&F"] == 60.4  # CropMAE Table 1
    rows = zoo_table()
    assert [row["name"] for row in rows] == [f"zoo:{e.name}" for e in ENTRIES]


@pytest.fixture
def published(tmp_path):
    """A 'published' file served from a file:// URL, with its real SHA-256."""
    source = tmp_path / "server" / "vit.pth"
    source.parent.mkdir()
    torch.manual_seed(1)
    model = create_backbone("vit_test_patch16")
    torch.save({"model": model.state_dict()}, source)
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    entry = dataclasses.replace(ZOO["mae_vitb16"], name="tiny", arch="vit_test_patch16",
                                url=source.as_uri(), filename="tiny.pth", sha256=digest)
    return entry, source


def test_fetch_downloads_verifies_and_caches(tmp_path, published):
    entry, source = published
    cache = tmp_path / "cache"
    path = fetch(entry, cache)
    assert path == cache / "tiny.pth" and path.read_bytes() == source.read_bytes()
    source.unlink()  # second call uses the cache, no download
    assert fetch(entry, cache) == path


def test_fetch_refuses_a_wrong_hash(tmp_path, published):
    entry, _ = published
    wrong = dataclasses.replace(entry, sha256="0" * 64)
    with pytest.raises(VpropError, match="does not match the published"):
        fetch(wrong, tmp_path / "cache")


def test_offline_and_manual_entries_say_where_to_put_the_file(tmp_path):
    offline = dataclasses.replace(ZOO["dino_vits16"], url=(tmp_path / "absent.pth").as_uri())
    with pytest.raises(VpropError, match="put the file at .*dino_deitsmall16_pretrain.pth"):
        fetch(offline, tmp_path / "cache")
    assert not (tmp_path / "cache" / offline.filename).exists()
    with pytest.raises(VpropError, match="drive.google.com.*save it as .*cropmae_in.pth"):
        fetch(ZOO["cropmae_in_vits16"], tmp_path / "cache")


def test_ckpt_zoo_name_resolves_through_torch_home(tmp_path, monkeypatch, published):
    entry, _ = published
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    monkeypatch.setitem(ZOO, "tiny", entry)
    _, path = resolve_zoo("zoo:tiny")
    assert path == tmp_path / "torch-home" / "hub" / "checkpoints" / "tiny.pth"
    extractor = load_backbone(None, "zoo:tiny")
    assert extractor.describe()["arch"] == "vit_test_patch16"
    with pytest.raises(VpropError, match="unknown zoo checkpoint 'nope'"):
        load_backbone(None, "zoo:nope")
