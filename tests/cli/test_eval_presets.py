"""`vprop eval` with the new presets and the one precision flag, on a real DAVIS sequence."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from hostile import TINY_EVAL, assert_refused, copy_davis

from vprop.benchmarks.papers import get_preset, protocol
from vprop.cli.main import main

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def davis(tmp_path_factory, shared_data):
    return copy_davis(shared_data / "davis-mini" / "DAVIS", tmp_path_factory.mktemp("presets"),
                      {"train": 3})


def _eval(*args: str):
    return CliRunner().invoke(main, ["eval", "--task", "davis", *TINY_EVAL, *args])


@pytest.mark.parametrize("name", ["rsp", "catmae"])
def test_new_presets_run_and_record_their_protocol(davis, tmp_path, name):
    out = tmp_path / name
    result = _eval("--data-root", str(davis), "--out", str(out), "--preset", name)
    assert result.exit_code == 0, result.output
    config = json.loads((out / "results.json").read_text())["config"]
    assert config["preset"] == json.loads(json.dumps(get_preset(name).to_dict()))
    assert config["protocol"] == json.loads(json.dumps(protocol("davis", name).to_dict()))
    # train is 480x854: rsp short side 480 -> 480x832; catmae 480x880
    assert config["size"] == {"rsp": [480, 832], "catmae": [480, 880]}[name]


def test_precision_flag_and_its_older_name(davis, tmp_path):
    runs = {}
    for flag in (["--precision", "bf16"], ["--amp", "bfloat16"]):
        out = tmp_path / flag[0].strip("-")
        result = _eval("--data-root", str(davis), "--out", str(out), "--size", "160x288", *flag)
        assert result.exit_code == 0, result.output
        runs[flag[0]] = json.loads((out / "results.json").read_text())
    assert runs["--precision"]["config"]["amp"] == runs["--amp"]["config"]["amp"] == "bfloat16"
    assert runs["--precision"]["global"] == runs["--amp"]["global"]
    auto = tmp_path / "auto"  # auto on a CPU: no autocast, like fp32
    assert _eval("--data-root", str(davis), "--out", str(auto), "--size", "160x288",
                 "--precision", "auto").exit_code == 0
    assert json.loads((auto / "results.json").read_text())["config"]["amp"] is None


def test_contradicting_precision_flags_and_bad_workers_are_refused(davis, tmp_path):
    out = tmp_path / "refused"
    assert_refused(_eval("--data-root", str(davis), "--out", str(out), "--precision", "fp16",
                         "--amp", "bfloat16"), ["--amp", "--precision"])
    assert_refused(_eval("--data-root", str(davis), "--out", str(out), "--workers", "0"),
                   ["--workers"])
    assert not out.exists()
