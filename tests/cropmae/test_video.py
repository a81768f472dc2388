import importlib.util

import av
import numpy as np
import pytest

from vprop.cropmae.video import PyAVReader, open_video, sample_pair_indices
from vprop.errors import VpropError


def write_counter_video(path, frames: int = 60, gop: int = 10) -> None:
    """Frame i is a flat grey of level 4 * i; a keyframe every ``gop`` frames."""
    container = av.open(str(path), "w")
    stream = container.add_stream("libx264", rate=25)
    stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
    stream.options = {"g": str(gop), "crf": "10"}
    for i in range(frames):
        frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 4 * i, np.uint8), "rgb24")
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
    container.close()


def level(frame) -> int:
    return int(round(frame.float().mean().item() / 4))


def test_frame_accurate_access_across_keyframes(tmp_path):
    path = tmp_path / "counter.mp4"
    write_counter_video(path)
    with PyAVReader(path) as reader:
        assert reader.num_frames == 60
        wanted = [0, 9, 10, 33, 57, 59]
        assert [level(f) for f in reader.get(wanted)] == wanted
        assert [level(f) for f in reader.get([41, 17])] == [41, 17]  # order of the request


def test_real_clip_frames_equal_sequential_decoding(shared_data):
    path = shared_data / "videos" / "dog.mp4"  # 289 frames, keyframes at 0 and 250
    wanted = [5, 120, 251, 280]
    with av.open(str(path)) as container:
        decoded = [f.to_ndarray(format="rgb24") for i, f in enumerate(container.decode(video=0))
                   if i in wanted]
    with open_video(path) as reader:
        assert reader.num_frames == 289
        frames = reader.get(wanted)
    for ours, truth in zip(frames, decoded):
        assert ours.shape == (3, 720, 1280)
        assert np.array_equal(ours.permute(1, 2, 0).numpy(), truth)


def test_unreadable_video_is_a_vprop_error(tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00" * 1000)
    with pytest.raises(VpropError, match="bad.mp4"):
        open_video(bad).get([0])


def test_decord_backend_missing_is_reported(tmp_path):
    if importlib.util.find_spec("decord") is not None:
        pytest.skip("decord is installed")
    with pytest.raises(VpropError, match="pip install decord"):
        open_video(tmp_path / "x.mp4", backend="decord")


def test_pair_gap_range_and_clipping():
    rng = np.random.default_rng(0)
    gaps = []
    for _ in range(2000):
        first, second = sample_pair_indices(300, rng)
        assert 0 <= first < second < 300
        gaps.append(second - first)
    assert min(gaps) == 4 and max(gaps) == 47  # uniform in [4, 48)
    # a 3-frame clip: low = min(4, 2) = 2, high = min(48, 3) = 3 -> gap 2, pair (0, 2)
    assert sample_pair_indices(3, rng) == (0, 2)
    with pytest.raises(ValueError):
        sample_pair_indices(1, rng)


def test_skipping_nonreference_frames_keeps_the_wanted_frames_exact(shared_data):
    path = shared_data / "videos" / "dog.mp4"  # H.264 with B-frames
    wanted = [37, 61, 140, 188]
    with PyAVReader(path, skip_nonref=False) as slow, PyAVReader(path) as fast:
        for ours, truth in zip(fast.get(wanted), slow.get(wanted)):
            assert np.array_equal(ours.numpy(), truth.numpy())
        fast._container.seek(0, stream=fast._stream)
        slow._container.seek(0, stream=slow._stream)
        decoded_fast = sum(1 for f in fast._frames({140}) if fast._index_of(f, 0) <= 140)
        decoded_slow = sum(1 for f in slow._frames({140}) if slow._index_of(f, 0) <= 140)
    assert decoded_slow == 141 and decoded_fast < 0.75 * decoded_slow  # work really skipped
