"""Shared fixtures: where the real data samples live."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]

# tests/cli/hostile.py (bad-input helpers, copy_davis) is importable as ``hostile`` everywhere.
if "hostile" not in sys.modules:
    _spec = importlib.util.spec_from_file_location(
        "hostile", Path(__file__).parent / "cli" / "hostile.py")
    _module = importlib.util.module_from_spec(_spec)
    sys.modules["hostile"] = _module
    _spec.loader.exec_module(_module)
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real DAVIS/JHMDB/ImageNet/video samples beside the checkout (../shared/data)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data samples not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture
def one_torch_thread():
    """Run single-threaded: tiny models gain nothing from threads on a busy 2-core machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def davis_train_only(shared_data: Path, tmp_path: Path) -> Path:
    """A DAVIS root holding only the real 4-frame `train` sequence (fast to evaluate)."""
    source = shared_data / "davis-mini" / "DAVIS"
    root = tmp_path / "DAVIS-train-only"
    for kind in ("JPEGImages", "Annotations"):
        (root / kind / "480p").mkdir(parents=True)
        (root / kind / "480p" / "train").symlink_to(source / kind / "480p" / "train")
    (root / "ImageSets" / "2017").mkdir(parents=True)
    (root / "ImageSets" / "2017" / "val.txt").write_text("train\n")
    return root
