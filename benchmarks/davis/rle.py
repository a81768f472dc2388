"""COCO RLE interchange for DAVIS-style results (per-frame object id maps).

File layout (JSON)::

    {"format": "vprop-davis-rle", "version": 1,
     "videos": [{"sequence": "blackswan", "frames": ["00000", ...], "size": [H, W]}, ...],
     "annotations": [{"sequence": "blackswan", "frame": "00001", "object_id": 1,
                      "size": [H, W], "counts": "<COCO compressed RLE string>"}, ...]}

One annotation per sequence / frame / object present in the frame. ``videos`` lists every
frame (so frames without any object survive a round trip); files from other tools may
omit it, frames are then taken from the annotations. Masks are encoded and decoded with
``pycocotools.mask``; imported id maps are decoded lazily, frame by frame.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from pycocotools import mask as mask_utils

from vprop.benchmarks.io import read_indexed_png, write_indexed_png
from vprop.errors import VpropError
from vprop.safety import check_name
from vprop.utils import atomic_write_bytes

FORMAT_NAME = "vprop-davis-rle"
FORMAT_VERSION = 1


def encode_frame(sequence: str, frame: str, ids: np.ndarray) -> list[dict[str, Any]]:
    """COCO RLE records of every object (non-zero id) of one id map.

    Args:
        sequence: Sequence name stored in each record.
        frame: Frame name (no extension) stored in each record.
        ids: Object id map (H, W), 0 = background.

    Returns:
        One record per object id present, ascending ids; ``counts`` is a str.
    """
    ids = np.asarray(ids)
    object_ids = [int(v) for v in np.unique(ids) if v != 0]
    if not object_ids:
        return []
    stack = np.stack([ids == v for v in object_ids], axis=-1).astype(np.uint8)  # (H, W, N)
    encoded = mask_utils.encode(np.asfortranarray(stack))
    return [
        {
            "sequence": sequence,
            "frame": frame,
            "object_id": object_id,
            "size": [int(ids.shape[0]), int(ids.shape[1])],
            "counts": rle["counts"].decode("ascii"),
        }
        for object_id, rle in zip(object_ids, encoded)
    ]


def results_folder_to_rle(results_dir: str | Path) -> dict[str, Any]:
    """Encode a results folder ``<seq>/<frame>.png`` (indexed PNGs) as an RLE payload.

    Frames are read one at a time, so the whole folder never sits in memory.
    """
    root = Path(results_dir)
    if not root.is_dir():
        raise VpropError("results folder not found", root)
    videos, annotations = [], []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        files = sorted(folder.glob("*.png"))
        if not files:
            continue
        size = None
        for path in files:
            ids = read_indexed_png(path)[0]
            if size is None:
                size = list(ids.shape)
            elif list(ids.shape) != size:
                raise VpropError(f"size {ids.shape} differs from the sequence's {size}", path)
            annotations.extend(encode_frame(folder.name, path.stem, ids))
        videos.append({"sequence": folder.name, "frames": [p.stem for p in files], "size": size})
    if not videos:
        raise VpropError("no <sequence>/<frame>.png results found", root)
    return {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "videos": videos,
        "annotations": annotations,
    }


def write_rle_json(path: str | Path, payload: Mapping[str, Any]) -> None:
    """Write an RLE payload as compact JSON (atomically)."""
    atomic_write_bytes(path, json.dumps(payload, separators=(",", ":")).encode())


def _run_lengths_total(counts: str) -> int | None:
    """Total pixel count of a COCO compressed RLE string, or None if it is malformed.

    Mirrors pycocotools' ``rleFrString`` so that a corrupt string is rejected before it
    reaches the C decoder (which does not bound-check).
    """
    runs: list[int] = []
    position = 0
    while position < len(counts):
        value, shift, more = 0, 0, True
        while more:
            if position >= len(counts):
                return None
            chunk = ord(counts[position]) - 48
            if not 0 <= chunk < 64:
                return None
            value |= (chunk & 0x1F) << (5 * shift)
            more = bool(chunk & 0x20)
            position += 1
            shift += 1
            if not more and chunk & 0x10:
                value |= -1 << (5 * shift)
        if len(runs) > 2:
            value += runs[-2]
        if value < 0:
            return None
        runs.append(value)
    return sum(runs)


class _RleSequence(Mapping):
    """Frame name -> id map of one sequence, decoded on access."""

    def __init__(self, origin: Path | None, sequence: str) -> None:
        self.origin, self.sequence = origin, sequence
        self.frames: dict[str, tuple[list[int] | None, list[dict[str, Any]]]] = {}

    def __getitem__(self, frame: str) -> np.ndarray:
        size, records = self.frames[frame]
        if size is None:
            size = records[0]["size"]
        ids = np.zeros(size, dtype=np.uint8)  # (H, W)
        for record in records:
            if list(record["size"]) != list(size):
                raise VpropError(
                    f"{self.sequence}/{frame} object {record['object_id']}: size "
                    f"{record['size']} differs from {size}",
                    self.origin,
                )
            mask = mask_utils.decode({"size": list(size), "counts": record["counts"].encode()})
            mask = mask.astype(bool)
            if np.any(ids[mask] != 0):
                raise VpropError(
                    f"{self.sequence}/{frame}: object {record['object_id']} overlaps another "
                    "object",
                    self.origin,
                )
            ids[mask] = record["object_id"]
        return ids

    def __iter__(self) -> Iterator[str]:
        return iter(self.frames)

    def __len__(self) -> int:
        return len(self.frames)


class RleResults(Mapping):
    """Sequence -> (frame -> id map) view of an RLE payload; masks decode lazily."""

    def __init__(self, payload: Any, origin: Path | None = None) -> None:
        """Validate and index a payload.

        Args:
            payload: The parsed JSON (see the module docstring).
            origin: The file it came from, named in error messages.

        Raises:
            VpropError: The payload is not in the expected layout.
        """
        self.origin = origin
        self.sequences: dict[str, _RleSequence] = {}
        if not isinstance(payload, dict) or not isinstance(payload.get("annotations"), list):
            raise VpropError("not a vprop RLE file (no 'annotations' list)", origin)
        for video in payload.get("videos") or []:
            try:
                entry = self._sequence(str(video["sequence"]))
                size = [int(v) for v in video["size"]]
                for frame in video["frames"]:
                    entry.frames[str(frame)] = (size, [])
            except (KeyError, TypeError, ValueError):
                raise VpropError(f"malformed 'videos' entry {video!r:.80}", origin) from None
        for index, record in enumerate(payload["annotations"]):
            self._add(index, record)

    def _sequence(self, name: str) -> _RleSequence:
        return self.sequences.setdefault(name, _RleSequence(self.origin, name))

    def _add(self, index: int, record: Any) -> None:
        try:
            sequence, frame = str(record["sequence"]), str(record["frame"])
            object_id = int(record["object_id"])
            size = [int(v) for v in record["size"]]
            counts = record["counts"]
        except (KeyError, TypeError, ValueError):
            raise VpropError(
                f"annotation {index} lacks sequence/frame/object_id/size/counts", self.origin
            ) from None
        if not 1 <= object_id <= 255 or len(size) != 2 or min(size) < 1:
            raise VpropError(
                f"annotation {index}: object_id must be 1..255 and size [H, W]", self.origin
            )
        if not isinstance(counts, str) or _run_lengths_total(counts) != size[0] * size[1]:
            raise VpropError(
                f"annotation {index}: counts is not a valid compressed RLE of "
                f"{size[0]}x{size[1]} pixels",
                self.origin,
            )
        entry = self._sequence(sequence)
        _, records = entry.frames.setdefault(frame, (None, []))
        records.append({"object_id": object_id, "size": size, "counts": counts})

    def __getitem__(self, sequence: str) -> _RleSequence:
        return self.sequences[sequence]

    def __iter__(self) -> Iterator[str]:
        return iter(self.sequences)

    def __len__(self) -> int:
        return len(self.sequences)


def read_rle_json(path: str | Path) -> RleResults:
    """Read an RLE JSON file as ``{sequence: {frame: (H, W) uint8 ids}}`` (lazy)."""
    path = Path(path)
    if not path.is_file():
        raise VpropError("file not found", path)
    try:
        payload = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise VpropError(f"cannot read JSON ({error.__class__.__name__}: {error})", path) from None
    return RleResults(payload, path)


def _palette_for(palette_root: Path | None, sequence: str) -> list[int] | None:
    """Palette of the sequence's first annotation under ``palette_root``, if there is one."""
    if palette_root is None:
        return None
    files = sorted((palette_root / "Annotations" / "480p" / sequence).glob("*.png"))
    return read_indexed_png(files[0])[1] if files else None


def write_png_folder(
    id_maps: Mapping[str, Mapping[str, np.ndarray]],
    out_dir: str | Path,
    palette_from: str | Path | None = None,
) -> int:
    """Write id maps as indexed PNGs ``<out_dir>/<seq>/<frame>.png``.

    Args:
        id_maps: ``{sequence: {frame: (H, W) ids}}``, e.g. from :func:`read_rle_json`.
        out_dir: Destination folder.
        palette_from: A DAVIS root; each sequence gets the palette of its first
            annotation there (the DAVIS palette when absent or not given).

    Returns:
        Number of PNG files written.
    """
    out_dir = Path(out_dir)
    palette_root = None if palette_from is None else Path(palette_from)
    if palette_root is not None and not (palette_root / "Annotations").is_dir():
        raise VpropError("no Annotations folder here to copy palettes from", palette_root)
    source = getattr(id_maps, "origin", None) or "the RLE data"
    for sequence, frames in id_maps.items():  # every name checked before anything is written
        check_name(sequence, "sequence", source)
        for frame in frames:
            check_name(frame, "frame", source)
    written = 0
    for sequence, frames in id_maps.items():
        palette = _palette_for(palette_root, sequence)
        for frame in frames:
            write_indexed_png(out_dir / sequence / f"{frame}.png", frames[frame], palette)
            written += 1
    return written
