"""`vprop report` on real runs (DAVIS blackswan + train, the JHMDB clip, a synthetic VIP run),
opened in headless Chromium: no console error, no broken image, the J&F of results.json in the
rendered text, one table row per object, a screenshot."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from click.testing import CliRunner

from vprop.benchmarks.vip.synthetic import make_vip_sample
from vprop.cli.main import main

TINY = ["--arch", "vit_test_patch16", "--no-progress", "--device", "cpu"]
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
# Appended to a copy of the page: report every image that did not load, then click the
# per-object table's J&F header and report the first row (the sort must move the best up).
CHECKER = """<script>
window.addEventListener('load', function () {
  var imgs = document.images, broken = 0;
  for (var i = 0; i < imgs.length; i++) {
    if (!imgs[i].complete || imgs[i].naturalWidth === 0) {
      broken++; console.log('BROKEN-IMAGE ' + imgs[i].getAttribute('src'));
    }
  }
  console.log('IMAGES ' + imgs.length + ' BROKEN ' + broken);
  var table = document.getElementById('units-run0');
  var th = table.querySelectorAll('thead th')[1];
  th.click(); th.click();
  console.log('FIRST-AFTER-SORT ' + table.tBodies[0].rows[0].cells[0].textContent);
});
</script>"""


def _chromium() -> str:
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    pytest.skip("no Chromium installed (Debian: apt-get install chromium; .ci/run installs it)")


def _eval(task: str, out: Path, *args: str) -> dict:
    result = CliRunner().invoke(main, ["eval", "--task", task, *TINY, "--out", str(out), *args])
    assert result.exit_code == 0, result.output
    return json.loads((out / "results.json").read_text())


@pytest.fixture(scope="module")
def runs(shared_data, tmp_path_factory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("runs")
    davis = shared_data / "davis-mini" / "DAVIS"
    jhmdb = shared_data / "jhmdb-mini"
    _eval("davis", base / "davis", "--data-root", str(davis), "--sequences", "blackswan,train",
          "--size", "128x224")
    _eval("jhmdb", base / "jhmdb", "--data-root", str(jhmdb), "--split",
          str(jhmdb / "val_list.txt"))
    vip = make_vip_sample(base / "vip-data")
    _eval("vip", base / "vip", "--data-root", str(vip), "--size", "128x224")
    return {task: base / task for task in ("davis", "jhmdb", "vip")}


class _Text(HTMLParser):
    """Visible text and the rows of each table (by id)."""

    def __init__(self) -> None:
        super().__init__()
        self.text: list[str] = []
        self.rows: dict[str, int] = {}
        self._skip = 0
        self._table: list[str | None] = []
        self._in_body = False

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self._skip += 1
        if tag == "table":
            self._table.append(dict(attrs).get("id"))
        if tag == "tbody":
            self._in_body = True
        if tag == "tr" and self._in_body and self._table and self._table[-1]:
            self.rows[self._table[-1]] = self.rows.get(self._table[-1], 0) + 1

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self._skip -= 1
        if tag == "table":
            self._table.pop()
        if tag == "tbody":
            self._in_body = False

    def handle_data(self, data):
        if not self._skip:
            self.text.append(data)


def _open_in_chromium(page: Path, *flags: str) -> subprocess.CompletedProcess:
    command = [_chromium(), "--headless", "--no-sandbox", "--disable-gpu",
               "--enable-logging=stderr", "--v=0", "--virtual-time-budget=10000", *flags,
               page.resolve().as_uri()]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def test_report_of_real_runs_opens_cleanly_in_chromium(runs, tmp_path):
    out = tmp_path / "report"
    result = CliRunner().invoke(main, ["report", str(runs["davis"]), str(runs["jhmdb"]),
                                       str(runs["vip"]), "--out", str(out)])
    assert result.exit_code == 0, result.output
    index = out / "index.html"
    html = index.read_text()
    assert "http://" not in html and "https://" not in html  # no CDN, nothing fetched
    davis = json.loads((runs["davis"] / "results.json").read_text())
    objects = sorted(davis["per_object"])
    assert len(objects) == 5  # blackswan_1, train_1 ... train_4

    checker = out / "_check.html"  # beside index.html: same relative image paths
    checker.write_text(html.replace("</body>", CHECKER + "</body>"))
    run = _open_in_chromium(checker, "--dump-dom")
    console = [line for line in run.stderr.splitlines() if ":CONSOLE" in line]
    messages = [re.sub(r'^.*?:CONSOLE[^\]]*\] "(.*)", source.*$', r"\1", line)
                for line in console]
    assert not [m for m in messages if "Error" in m or "BROKEN-IMAGE" in m], console
    images = next(m for m in messages if m.startswith("IMAGES "))
    count = int(images.split()[1])
    assert images == f"IMAGES {count} BROKEN 0" and count >= 10
    # J&F per object, ascending then descending: the best object comes first.
    best = max(objects, key=lambda name: davis["per_object"][name]["J-Mean"]
               + davis["per_object"][name]["F-Mean"])
    assert f"FIRST-AFTER-SORT {best}" in messages

    parsed = _Text()
    parsed.feed(run.stdout)
    text = " ".join(parsed.text)
    jf = davis["global"]["J&F-Mean"]
    assert f"{jf:.4f}" in text and repr(jf) in text
    assert parsed.rows["units-run0"] == len(objects)
    assert parsed.rows["units-run1"] == 1  # the JHMDB clip
    assert parsed.rows["units-run2"] == 2  # two VIP videos
    shot = tmp_path / "report.png"
    _open_in_chromium(index, f"--screenshot={shot}", "--window-size=1280,2400")
    assert shot.is_file() and shot.stat().st_size > 10_000


def test_report_compares_runs_with_deltas(runs, tmp_path):
    from vprop.benchmarks.report.build import build_report

    index = build_report([runs["davis"], runs["davis"]], tmp_path / "cmp", worst=1, max_plots=1)
    html = index.read_text()
    assert "Comparison: davis (2 runs)" in html
    assert html.count('data-v="0.0"') >= 5  # a run against itself: every delta is zero


def test_report_rejects_a_folder_without_results(tmp_path):
    result = CliRunner().invoke(main, ["report", str(tmp_path), "--out", str(tmp_path / "r")])
    assert result.exit_code == 2
    assert result.output.strip().splitlines()[-1].startswith("error: ")
    assert "results.json" in result.output


def test_jhmdb_frames_show_pck_hits_and_misses(runs):
    from vprop.benchmarks.report.draw import GT_COLOUR, HIT, MISS
    from vprop.benchmarks.report.frames import frame_pairs
    from vprop.benchmarks.report.runs import load_run

    run = load_run(runs["jhmdb"])
    (unit,) = run.units
    saved = json.loads((runs["jhmdb"] / "results" / f"{unit.name}.json").read_text())
    per_frame = json.loads((runs["jhmdb"] / "per_frame.json").read_text())["units"][unit.name]
    scored = [i for i, h in enumerate(per_frame["hit@0.1"]) if None not in h]
    index = max(scored, key=lambda i: sum(per_frame["hit@0.1"][i]))  # most hits
    frame = per_frame["frames"][index]
    hits = per_frame["hit@0.1"][index]
    assert 0 < sum(hits) < len(hits)  # hits and misses on this frame
    (_, truth, pred), = list(frame_pairs(run, unit.name, [frame]))
    predicted = np.asarray(saved["frames"][index]["keypoints"])[:, :2]
    seen = {0: 0, 1: 0}
    for joint in _isolated(predicted):
        x, y = predicted[joint]
        colour = tuple(pred[int(round(y)), int(round(x))])
        assert colour == (HIT if hits[joint] else MISS)
        seen[hits[joint]] += 1
    assert seen[0] >= 1 and seen[0] + seen[1] >= 5
    gt = scipy.io.loadmat(str(run.data_root / "joint_positions" / unit.name /
                              "joint_positions.mat"))["pos_img"][:, :, index].T - 1.0
    isolated = _isolated(gt)
    assert len(isolated) >= 5
    for joint in isolated:  # ground-truth joints are yellow discs on the left panel
        x, y = gt[joint]
        assert tuple(truth[int(round(y)), int(round(x))]) == GT_COLOUR


def _isolated(points: np.ndarray) -> list[int]:
    """Joints with no other joint within 8 px (no other disc can cover their centre)."""
    out = []
    for joint, point in enumerate(points):
        others = np.delete(points, joint, axis=0)
        if np.hypot(*(others - point).T).min() >= 8:
            out.append(joint)
    return out


def test_per_frame_files_agree_with_results_json(runs):
    # JHMDB: the per-joint hit flags, pooled over frames, give results.json's per-joint PCK.
    payload = json.loads((runs["jhmdb"] / "results.json").read_text())
    (clip, detail), = json.loads((runs["jhmdb"] / "per_frame.json").read_text())["units"].items()
    assert len(detail["frames"]) == payload["per_clip"][clip]["frames"] == 40
    assert all(h is None for h in detail["hit@0.1"][0])  # frame 0 is never scored
    for threshold in ("0.1", "0.2"):
        hits = np.array([[np.nan if h is None else h for h in row]
                         for row in detail[f"hit@{threshold}"]])
        for j, name in enumerate(payload["per_joint"]):
            expected = payload["per_joint"][name][f"PCK@{threshold}"]
            column = hits[:, j][~np.isnan(hits[:, j])]
            assert 100.0 * column.mean() == pytest.approx(expected, abs=1e-9)
    # VIP: one mIoU per annotated frame of each video.
    vip = json.loads((runs["vip"] / "results.json").read_text())
    units = json.loads((runs["vip"] / "per_frame.json").read_text())["units"]
    for video, entry in vip["per_video"].items():
        assert len(units[video]["mIoU"]) == entry["scored_frames"]
        assert all(0.0 <= v <= 100.0 for v in units[video]["mIoU"])
    # DAVIS: per object, the mean of the per-frame J is results.json's J-Mean.
    davis = json.loads((runs["davis"] / "results.json").read_text())
    units = json.loads((runs["davis"] / "per_frame.json").read_text())["units"]
    for name, figures in davis["per_object"].items():
        assert np.mean(units[name]["J"]) == pytest.approx(figures["J-Mean"], abs=1e-12)


def test_report_of_a_run_without_per_frame_file(runs, tmp_path):
    from vprop.benchmarks.report.build import build_report

    old = tmp_path / "old-run"
    shutil.copytree(runs["vip"], old)
    (old / "per_frame.json").unlink()  # a run made before the file existed
    index = build_report([old], tmp_path / "report")
    html = index.read_text()
    assert "No per_frame.json in this run" in html
    assert html.count('<tr><td data-v="videos') == 2  # the table is still there
    assert not list((tmp_path / "report" / "img").rglob("*.*"))  # nothing to plot or draw
