"""JHMDB reader: the official layout and the split list files people use.

Layout (``root`` = the JHMDB folder)::

    Rename_Images/<class>/<clip>/00001.png ...
    joint_positions/<class>/<clip>/joint_positions.mat   # pos_img: 2 x J x T, 1-based pixels

A clip is named ``<class>/<clip>``. List files (any subset, one clip per line) may be written as

* ``<...>/joint_positions/<class>/<clip>/joint_positions.mat <...>/Rename_Images/<class>/<clip>``
  (CRW/CropMAE ``jhmdb_vallist.txt``; either order, any path prefix: only the part after
  ``Rename_Images/`` or ``joint_positions/`` is used, resolved against ``root``);
* ``<class>/<clip>``;
* the official ``<class>_test_split<k>.txt`` lines ``<clip>.avi <1|2>`` (2 = test, kept).
"""

from __future__ import annotations

import glob
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.io

from vprop.benchmarks.io import find_list_file, image_size, name_after_marker, read_list_file
from vprop.errors import VpropError
from vprop.safety import check_name, ordered_frames

FRAMES_DIR = "Rename_Images"
JOINTS_DIR = "joint_positions"
JOINTS_FILE = "joint_positions.mat"
NUM_JOINTS = 15
JOINT_NAMES = (
    "neck", "belly", "face", "right_shoulder", "left_shoulder", "right_hip", "left_hip",
    "right_elbow", "left_elbow", "right_knee", "left_knee", "right_wrist", "left_wrist",
    "right_ankle", "left_ankle",
)  # the order of pos_img's second axis
# Bones between the joints above (indices into JOINT_NAMES), for drawing skeletons.
SKELETON = (
    (2, 0), (0, 1), (0, 3), (0, 4), (3, 7), (7, 11), (4, 8), (8, 12),
    (1, 5), (1, 6), (5, 9), (9, 13), (6, 10), (10, 14),
)
DEFAULT_LISTS = ("val_list.txt", "testlist_split1.txt", "jhmdb_vallist.txt")
_OFFICIAL_SPLIT = re.compile(r"^(?P<cls>.+)_test_split\d+\.txt$")


@dataclass(frozen=True)
class JhmdbClip:
    """One clip with its ground-truth joints.

    Attributes:
        name: ``<class>/<clip>``.
        frames: PNG frame paths in order.
        annotation: The ``joint_positions.mat`` file.
        size: (height, width) of the frames.
        joints: (T, J, 2) float64 ground-truth (x, y), 0-based pixel coordinates.
    """

    name: str
    frames: tuple[Path, ...]
    annotation: Path
    size: tuple[int, int]
    joints: np.ndarray

    def frame_names(self) -> list[str]:
        """Frame stems (``00001`` ...), used in the prediction files."""
        return [frame.stem for frame in self.frames]


def read_clip_list(path: Path) -> list[str]:
    """Read clip names (``<class>/<clip>``) from a list file (the formats in the module doc).

    Raises:
        VpropError: Missing file, a line naming no clip, or an empty list.
    """
    official = _OFFICIAL_SPLIT.match(Path(path).name)

    def clip_of(tokens: list[str]) -> str | None:
        found = [name for name in (name_after_marker(token, (FRAMES_DIR, JOINTS_DIR), 2)
                                   for token in tokens) if name is not None]
        if found:
            return found[0]
        if official and len(tokens) == 2 and tokens[1] in ("1", "2"):
            return f"{official['cls']}/{Path(tokens[0]).stem}" if tokens[1] == "2" else ""
        if len(tokens) == 1 and tokens[0].count("/") == 1:
            return tokens[0].strip("/")
        return None

    return read_list_file(path, "JHMDB clip", clip_of)


def find_clip_list(root: Path) -> Path:
    """Return the default clip list file in ``root`` (the first of ``DEFAULT_LISTS`` present)."""
    return find_list_file(root, DEFAULT_LISTS, "clip list")


def read_joints(path: Path, num_frames: int | None = None) -> np.ndarray:
    """Read ``pos_img`` from a ``joint_positions.mat`` file.

    Args:
        path: The .mat file.
        num_frames: Expected number of frames T (checked when given).

    Returns:
        (T, J, 2) float64 (x, y) 0-based pixel coordinates (``pos_img - 1``).

    Raises:
        VpropError: Missing/unreadable file, no ``pos_img``, a shape other than 2 x 15 x T,
            non-finite values, or T different from ``num_frames``.
    """
    if not path.is_file():
        raise VpropError("joint annotation not found", path)
    try:
        content = scipy.io.loadmat(str(path))
    except Exception as error:  # scipy raises several unrelated types for a bad file
        raise VpropError(
            f"cannot read .mat file ({error.__class__.__name__}: {error})", path
        ) from None
    if "pos_img" not in content:
        raise VpropError("no 'pos_img' variable in the joint annotation", path)
    pos = np.asarray(content["pos_img"])
    if pos.ndim != 3 or pos.shape[0] != 2 or not np.issubdtype(pos.dtype, np.number):
        raise VpropError(f"'pos_img' must be numeric 2 x J x T, got shape {pos.shape}", path)
    if pos.shape[1] != NUM_JOINTS:
        raise VpropError(f"'pos_img' holds {pos.shape[1]} joints; JHMDB annotations have "
                         f"{NUM_JOINTS} (PCK over fewer joints is not comparable)", path)
    if not np.all(np.isfinite(pos)):
        raise VpropError("'pos_img' holds non-finite coordinates", path)
    if num_frames is not None and pos.shape[2] != num_frames:
        raise VpropError(
            f"'pos_img' covers {pos.shape[2]} frames but the clip has {num_frames} frames", path
        )
    return np.transpose(pos.astype(np.float64) - 1.0, (2, 1, 0))  # (T, J, 2)


def load_clip(root: Path, name: str, source: str | Path = "--sequences") -> JhmdbClip:
    """Locate and check one clip (frames, annotation, matching lengths).

    Raises:
        VpropError: Bad name, missing frames folder or annotation, no frames, or an
            annotation that does not cover exactly the clip's frames.
    """
    if name.count("/") != 1:
        raise VpropError(f"JHMDB clip names look like <class>/<clip>, got {name!r}", source)
    for part in name.split("/"):
        check_name(part, "clip", source)
    frame_dir = root / FRAMES_DIR / name
    if not frame_dir.is_dir():
        raise VpropError(f"clip {name!r} not found", frame_dir)
    frames = ordered_frames(frame_dir.glob("*.png"), frame_dir, ".png")
    if not frames:
        raise VpropError("no .png frames in the clip folder", frame_dir)
    annotation = root / JOINTS_DIR / name / JOINTS_FILE
    joints = read_joints(annotation, num_frames=len(frames))
    return JhmdbClip(name, frames, annotation, image_size(frames[0]), joints)


def _resolve_names(root: Path, requested: list[str]) -> list[str]:
    """Accept ``<class>/<clip>`` or a bare ``<clip>`` (looked up under Rename_Images)."""
    names = []
    for item in requested:
        if "/" in item.strip("/") or item in (".", ".."):
            names.append(item.strip("/") if item not in (".", "..") else item)
            continue
        check_name(item, "clip", "--sequences")
        matches = sorted((root / FRAMES_DIR).glob(f"*/{glob.escape(item)}"))
        if len(matches) != 1:
            raise VpropError(
                f"clip {item!r} matches {len(matches)} folders; name it <class>/<clip>",
                root / FRAMES_DIR,
            )
        names.append(f"{matches[0].parent.name}/{item}")
    return names


def load_clips(
    root: Path, sequences: list[str] | None = None, split: Path | None = None
) -> list[JhmdbClip]:
    """Load and check the requested clips: ``sequences`` if given, else the list file's.

    Args:
        root: JHMDB root (holding ``Rename_Images`` and ``joint_positions``).
        sequences: Clip names (``<class>/<clip>`` or ``<clip>``), or ``None``.
        split: List file, or ``None`` for the default one in ``root``.

    Raises:
        VpropError: Missing root or list, or any bad clip (see :func:`load_clip`).
    """
    root = Path(root)
    if not root.is_dir():
        raise VpropError("JHMDB root folder not found", root)
    if sequences:
        source: str | Path = "--sequences"
        names = _resolve_names(root, list(sequences))
    else:
        source = split if split is not None else find_clip_list(root)
        names = read_clip_list(source)
    return [load_clip(root, name, source) for name in names]
