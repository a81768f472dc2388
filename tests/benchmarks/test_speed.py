"""`vprop bench eval`'s measurement: the per-stage split and the ratio to the backbone alone."""

from __future__ import annotations

from pathlib import Path

from vprop.benchmarks.papers import get_preset
from vprop.benchmarks.settings import EngineSettings
from vprop.benchmarks.speed import format_split, measure_run
from vprop.benchmarks.tasks import EvalRequest, get_task, run_task
from vprop.checkpoints import load_backbone
from vprop.timing import StageTimer, recording

STAGES = {"decode", "resize", "backbone", "propagation", "upsample", "png", "scoring"}


def test_measure_run_reports_every_stage_and_the_ratio(davis_train_only, one_torch_thread):
    report = measure_run(davis_train_only, None, "vit_test_patch16", None, "cpu", 2, None,
                         "float32")
    assert report["frames"] == 4  # the real 4-frame train sequence
    assert set(report["stage_seconds"]) == STAGES
    assert report["ratio_to_backbone"] == report["wall_seconds"] / report["backbone_alone_seconds"]
    assert 0 < report["stage_seconds"]["backbone"] < report["wall_seconds"]
    assert report["ratio_to_backbone_in_run"] > 1  # the backbone runs inside the timed window
    assert "ratio" in format_split(report) and "propagation" in format_split(report)


def test_timing_changes_no_output_byte(davis_train_only, tmp_path, one_torch_thread):
    extractor = load_backbone(arch="vit_test_patch16")
    settings = EngineSettings(device="cpu", progress=False)

    def predict(out: Path) -> dict[str, bytes]:
        request = EvalRequest(data_root=davis_train_only, out_dir=out, size=(160, 288),
                              preset=get_preset("cropmae"), settings=settings)
        run_task(get_task("davis"), extractor, request)
        return {p.name: p.read_bytes() for p in sorted((out / "results" / "train").glob("*.png"))}

    timer = StageTimer()
    plain = predict(tmp_path / "plain")
    with recording(timer):
        timed = predict(tmp_path / "timed")
    assert len(plain) == 4 and plain == timed
    assert timer.report()["png"]["calls"] == 4
