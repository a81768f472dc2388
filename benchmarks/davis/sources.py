"""Where DAVIS predictions are read from: a results folder, a COCO RLE file, or memory.

A source answers three questions for the scorer: does it hold a sequence, where is a frame
(for error messages), and what is its id map. ``only(sequence)`` gives the part one scoring
process needs, so a pool worker receives one sequence's maps, not the whole file.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from vprop.benchmarks.io import read_indexed_png
from vprop.errors import VpropError

# Predictions held in memory: sequence -> frame name (no extension) -> id map (H, W).
IdMaps = Mapping[str, Mapping[str, np.ndarray]]


class _FolderPredictions:
    """Predictions stored as ``<root>/<seq>/<frame>.png`` (the official results layout)."""

    def __init__(self, root: Path) -> None:
        if not root.is_dir():
            raise VpropError("results folder not found", root)
        self.root = root

    def check_sequence(self, sequence: str) -> None:
        if not (self.root / sequence).is_dir():
            raise VpropError("results folder for this sequence not found", self.root / sequence)

    def where(self, sequence: str, frame: str) -> Path:
        return self.root / sequence / f"{frame}.png"

    def only(self, sequence: str) -> _FolderPredictions:
        return self

    def read(self, sequence: str, frame: str) -> np.ndarray:
        return read_indexed_png(self.where(sequence, frame))[0]


class _MemoryPredictions:
    """Predictions held in memory (e.g. imported from a COCO RLE JSON file)."""

    def __init__(self, maps: IdMaps, origin: Path | None) -> None:
        self.maps = maps
        self.origin = origin

    def check_sequence(self, sequence: str) -> None:
        if sequence not in self.maps:
            raise VpropError(f"no predictions for sequence {sequence}", self.origin)

    def only(self, sequence: str) -> _MemoryPredictions:
        """The predictions of one sequence (what a scoring process needs to receive)."""
        kept = {sequence: self.maps[sequence]} if sequence in self.maps else {}
        return _MemoryPredictions(kept, self.origin)

    def where(self, sequence: str, frame: str) -> str:
        prefix = "" if self.origin is None else f"{self.origin}:"
        return f"{prefix}{sequence}/{frame}"

    def read(self, sequence: str, frame: str) -> np.ndarray:
        if frame not in self.maps[sequence]:
            raise VpropError("prediction for this frame not found", self.where(sequence, frame))
        return np.asarray(self.maps[sequence][frame])


PredictionSource = _FolderPredictions | _MemoryPredictions


def open_predictions(results: str | Path | IdMaps) -> PredictionSource:
    """The source for a results folder, a COCO RLE JSON file, or in-memory id maps."""
    if isinstance(results, Mapping):
        return _MemoryPredictions(results, None)
    path = Path(results)
    if path.is_file() and path.suffix.lower() == ".json":
        from vprop.benchmarks.davis.rle import read_rle_json

        return _MemoryPredictions(read_rle_json(path), path)
    return _FolderPredictions(path)


def covered_sequences(results: str | Path) -> tuple[list[str] | None, str]:
    """The sequences a results folder or RLE file holds, and where that was read.

    Reads, in order: the ``sequences`` of a vprop ``results.json`` beside a ``results/``
    folder, the ``videos`` of a COCO RLE JSON file, the sub-folders of a results folder.

    Returns:
        (names or None when nothing was found, description of the source).
    """
    path = Path(results)
    if path.is_file():
        try:
            videos = json.loads(path.read_text()).get("videos") or []
            return [str(video["sequence"]) for video in videos] or None, f"the videos of {path}"
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None, str(path)
    run_file = path.parent / "results.json"
    if path.name == "results" and run_file.is_file():
        try:
            names = json.loads(run_file.read_text()).get("sequences")
        except (OSError, ValueError, AttributeError):
            names = None
        if names:
            return [str(name) for name in names], f"the run's {run_file}"
    folders = sorted(p.name for p in path.iterdir() if p.is_dir()) if path.is_dir() else []
    return folders or None, f"the sequence folders of {path}"
