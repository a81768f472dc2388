"""The full-scale synthetic DAVIS val, the benchmark commands' input checks, the rank wrapper."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from click.testing import CliRunner
from PIL import Image

from vprop.benchmarks.davis.dataset import load_sequences
from vprop.benchmarks.davis.synthetic import (
    DAVIS_2017_VAL,
    FULL_SCALE_PREFIX,
    HEIGHT,
    WIDTH,
    make_full_scale_sample,
)
from vprop.benchmarks.io import read_indexed_png
from vprop.cli.main import main


def test_counts_are_davis_2017_val():
    # Published: 30 sequences, 1,999 frames, 61 objects (1 to 5 per sequence).
    assert len(DAVIS_2017_VAL) == 30
    assert sum(frames for frames, _ in DAVIS_2017_VAL.values()) == 1999
    assert sum(objects for _, objects in DAVIS_2017_VAL.values()) == 61
    assert {objects for _, objects in DAVIS_2017_VAL.values()} == {1, 2, 3, 5}  # none has 4


def test_counts_match_the_real_sample(shared_data: Path):
    real = shared_data / "davis-mini" / "DAVIS"
    for name in ("blackswan", "car-shadow"):
        annotations = sorted((real / "Annotations" / "480p" / name).glob("*.png"))
        objects = int(np.max(read_indexed_png(annotations[0])[0]))
        assert DAVIS_2017_VAL[name] == (len(annotations), objects)


def _tree(root: Path) -> dict[str, bytes]:
    files = sorted(path for path in root.rglob("*") if path.is_file())
    return {str(path.relative_to(root)): path.read_bytes() for path in files}


def test_full_scale_sample_layout_and_determinism(tmp_path: Path):
    root = make_full_scale_sample(tmp_path / "one", sequences=2, workers=1)
    again = make_full_scale_sample(tmp_path / "two", sequences=2, workers=2)
    assert _tree(again) == _tree(root)  # byte-identical, in a pool or not
    sequences = load_sequences(root, None)
    names = list(DAVIS_2017_VAL)[:2]
    assert [seq.name for seq in sequences] == [FULL_SCALE_PREFIX + name for name in names]
    assert (root / "SYNTHETIC.txt").is_file()
    for sequence, name in zip(sequences, names):
        frames, objects = DAVIS_2017_VAL[name]
        assert len(sequence.frames) == frames and sequence.size == (HEIGHT, WIDTH)
        with Image.open(sequence.frames[-1]) as image:
            assert image.format == "JPEG" and image.size == (WIDTH, HEIGHT)
        first = read_indexed_png(sequence.first_annotation)[0]
        assert sorted(np.unique(first)) == list(range(objects + 1))  # every object in frame 0


def test_bench_commands_reject_bad_options_in_one_line(tmp_path: Path):
    runner = CliRunner()
    both = runner.invoke(main, ["bench", "eval", "--full-scale", "--data-root", str(tmp_path)])
    assert both.exit_code == 2
    assert both.output.strip() == ("error: --full-scale: replaces --data-root; give one of "
                                   "the two")
    workers = runner.invoke(main, ["bench", "score", "--full-scale", "--workers", "1,0"])
    assert workers.exit_code == 2
    assert workers.output.strip() == ("error: --workers: must be a positive number of "
                                      "processes, got 0")
    neither = runner.invoke(main, ["bench", "score"])
    assert neither.exit_code == 2 and neither.output.startswith("error: --data-root: ")


def test_rank_wrapper_records_its_peak_memory(tmp_path: Path):
    env = {**os.environ, "VPROP_RANK_RSS_DIR": str(tmp_path), "RANK": "3"}
    done = subprocess.run([sys.executable, "-m", "vprop.benchmarks.scaling", "score", "--help"],
                          capture_output=True, text=True, env=env, check=False)
    assert done.returncode == 0 and "--workers" in done.stdout  # vprop ran in the wrapper
    record = json.loads((tmp_path / "rank-3.json").read_text())
    assert record["rank"] == 3 and 10 < record["peak_rss_mib"] < 10_000
