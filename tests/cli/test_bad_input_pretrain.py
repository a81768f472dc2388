"""`vprop pretrain` and `vprop viz recon` on hostile input: one `error:` line, exit 2, the data
and an earlier finished run byte-identical afterwards."""

from __future__ import annotations

import os
import pickle
import shutil

import pytest
from hostile import TINY_PRETRAIN, Guard, TinyFs, invoke, refused

from vprop.safety import RunLock

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def world(tmp_path_factory, shared_data):
    """Six real images and a finished 1-epoch tiny pretraining run on them."""
    base = tmp_path_factory.mktemp("hostile-pretrain")
    images = base / "images"
    images.mkdir()
    for path in sorted((shared_data / "images-mini").iterdir())[:6]:
        shutil.copy(path, images)
    done = base / "done"
    result = invoke("pretrain", "--data", str(images), "--output-dir", str(done),
                    "--epochs", "1", *TINY_PRETRAIN)
    assert result.exit_code == 0, result.output
    assert (done / "checkpoint-0001.pth").is_file()
    return {"images": images, "done": done, "base": base}


def _pretrain(world, out, *args: str) -> list[str]:
    return ["pretrain", "--data", str(world["images"]), "--output-dir", str(out),
            "--epochs", "1", *TINY_PRETRAIN, *args]


def _guard(world, *more) -> Guard:
    return Guard(world["images"], world["done"], *more)


class _Payload:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


@pytest.fixture
def evil(tmp_path):
    path = tmp_path / "evil.pth"
    path.write_bytes(pickle.dumps({"model": _Payload()}, protocol=2))
    return path


@pytest.mark.parametrize("option, values", [
    ("--blr", ["nan"]), ("--mask-ratio", ["inf"]), ("--betas", ["nan", "0.95"]),
    ("--clip-grad", ["-inf"]), ("--warmup-epochs", ["nan"]),
])
def test_non_finite_floats_name_their_option(world, tmp_path, option, values):
    refused(_guard(world), option, *_pretrain(world, tmp_path / "o", option, *values))


def test_output_dir_is_a_file(world, tmp_path):
    target = tmp_path / "file"
    target.write_text("keep")
    refused(_guard(world, target), str(target), *_pretrain(world, target))


def test_output_dir_below_a_file(world, tmp_path):
    target = tmp_path / "file"
    target.write_text("keep")
    refused(_guard(world, target), [str(target / "o"), "Not a directory"],
            *_pretrain(world, target / "o"))


def test_finished_run_is_not_restarted_over(world):
    line = refused(_guard(world), str(world["done"]), *_pretrain(world, world["done"]))
    assert "--resume auto" in line


def test_output_dir_inside_the_data_is_refused(world):
    refused(_guard(world), "--output-dir", *_pretrain(world, world["images"] / "run"))


def test_resume_from_a_malicious_pickle(world, tmp_path, evil):
    line = refused(_guard(world), str(evil),
                   *_pretrain(world, tmp_path / "o", "--resume", str(evil)))
    assert "refusing to unpickle" in line and "weights_only" not in line


def test_resume_from_a_missing_file(world, tmp_path):
    refused(_guard(world), str(tmp_path / "none.pth"),
            *_pretrain(world, tmp_path / "o", "--resume", str(tmp_path / "none.pth")))


def test_resume_from_junk(world, tmp_path):
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint at all")
    refused(_guard(world), str(junk), *_pretrain(world, tmp_path / "o", "--resume", str(junk)))


def test_missing_data(world, tmp_path):
    refused(_guard(world), str(tmp_path / "none"), "pretrain", "--data", str(tmp_path / "none"),
            "--output-dir", str(tmp_path / "o"), *TINY_PRETRAIN)
    assert not (tmp_path / "o").exists()


def test_every_image_corrupt_in_a_worker_is_one_line(world, tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    for index in range(6):
        (bad / f"img{index}.jpg").write_bytes(b"\xff\xd8 corrupt " * 20)
    args = ["pretrain", "--data", str(bad), "--output-dir", str(tmp_path / "o"), "--epochs", "1",
            *TINY_PRETRAIN, "--workers", "1"]
    line = refused(_guard(world, bad), str(bad), *args)
    assert "DataLoader" not in line and "Original Traceback" not in line


def test_output_dir_held_by_another_run(world):
    with RunLock(world["done"], "--output-dir"):
        line = refused(_guard(world), str(world["done"]),
                       *_pretrain(world, world["done"], "--resume", "auto"))
    assert "another vprop run" in line


def test_full_disk_names_the_checkpoint(world, tmp_path):
    fs = TinyFs(tmp_path / "full", size="64k")
    try:
        line = refused(_guard(world), "No space left on device",
                       *_pretrain(world, fs.where / "o"))
        assert str(fs.where / "o") in line
        assert not list((fs.where / "o").glob(".*.tmp"))  # no half-written checkpoint left
    finally:
        fs.close()


# ----------------------------------------------------------------------------- viz recon
def _recon(world, ckpt, out, *args: str) -> list[str]:
    return ["viz", "recon", "--ckpt", str(ckpt), "--data", str(world["images"]),
            "--out", str(out), "--count", "2", *args]


def test_recon_malicious_pickle(world, tmp_path, evil):
    line = refused(_guard(world), str(evil), *_recon(world, evil, tmp_path / "r.png"))
    assert "refusing to unpickle" in line and "weights_only" not in line


def test_recon_missing_checkpoint(world, tmp_path):
    refused(_guard(world), str(tmp_path / "no.pth"),
            *_recon(world, tmp_path / "no.pth", tmp_path / "r.png"))


def test_recon_nan_mask_ratio(world, tmp_path):
    refused(_guard(world), "--mask-ratio", *_recon(world, world["done"] / "checkpoint-last.pth",
                                                   tmp_path / "r.png", "--mask-ratio", "nan"))


def test_recon_out_below_a_file(world, tmp_path):
    target = tmp_path / "file"
    target.write_text("keep")
    refused(_guard(world, target), str(target),
            *_recon(world, world["done"] / "checkpoint-last.pth", target / "r.png"))


def test_recon_into_the_data_folder_is_refused(world):
    refused(_guard(world), "--out", *_recon(world, world["done"] / "checkpoint-last.pth",
                                            world["images"] / "r.png"))
