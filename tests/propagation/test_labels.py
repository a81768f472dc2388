"""Label maps between image resolution and the feature grid, checked by hand."""

from __future__ import annotations

import torch

from vprop.propagation.labels import (
    channel_argmax,
    decode_labels,
    first_frame_labels,
    resize_ids,
)


def test_channel_argmax_equals_torch_argmax_with_first_index_on_ties():
    generator = torch.Generator().manual_seed(0)
    maps = torch.randint(0, 3, (6, 7, 9), generator=generator).float()  # many ties
    assert torch.equal(channel_argmax(maps), maps.argmax(0))


def test_bilinear_label_downsampling_averages_the_two_central_pixels():
    # 1 x 32 strip -> 1 x 2 grid: output cell 0 samples input x = 7.5 (mean of pixels 7 and 8).
    ids = torch.zeros(1, 32, dtype=torch.long)
    ids[0, 8:] = 1  # pixel 7 is class 0, pixel 8 class 1
    soft = first_frame_labels(ids, 2, input_size=(1, 32), grid=(1, 2), mode="bilinear")
    torch.testing.assert_close(soft[:, 0, 0], torch.tensor([0.5, 0.5]))
    torch.testing.assert_close(soft[:, 0, 1], torch.tensor([0.0, 1.0]))


def test_nearest_label_downsampling_picks_pil_style_centres():
    # 1 x 8 -> 1 x 2: PIL nearest samples input x = floor((j + 0.5) * 4) = 2 and 6.
    ids = torch.tensor([[0, 0, 1, 0, 0, 0, 2, 0]])
    soft = first_frame_labels(ids, 3, input_size=(1, 8), grid=(1, 2), mode="nearest",
                              nearest="pil")
    assert soft.argmax(0).tolist() == [[1, 2]]


def test_resize_ids_opencv_style_nearest():
    ids = torch.tensor([[0, 1, 2, 3]])
    # OpenCV INTER_NEAREST: x_src = floor(x_dst * 4 / 6) -> 0 0 1 2 2 3
    assert resize_ids(ids, (1, 6)).tolist() == [[0, 0, 1, 2, 2, 3]]


def test_decode_labels_upsamples_then_argmaxes_at_original_size():
    soft = torch.zeros(2, 1, 2)
    soft[0, 0, 0] = 1.0  # left cell class 0
    soft[1, 0, 1] = 1.0  # right cell class 1
    decoded = decode_labels(soft, input_size=(1, 4), output_size=(2, 4))
    assert decoded.tolist() == [[0, 0, 1, 1], [0, 0, 1, 1]]
