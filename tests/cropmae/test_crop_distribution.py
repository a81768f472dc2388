"""vprop's crop sampler draws the same (area, aspect) distribution as torchvision's transform.

The authors' runs used ``torchvision.transforms(.v2).RandomResizedCrop`` (its own parameter
function, not the sampler the CropMAE code defines); vprop calls that function seeded per
sample. The reference here is torchvision's transform driven by torch's global RNG, as in the
authors' training loop.
"""

import math

import numpy as np
import torch
from PIL import Image
from scipy.stats import ks_2samp
from torchvision.transforms import RandomResizedCrop

from vprop.cropmae.crops import sample_box
from vprop.cropmae.data import sample_rng

DRAWS = 20_000
SCALE, RATIO = (0.1, 1.0), (3.0 / 4.0, 4.0 / 3.0)


def real_sizes(shared_data) -> list[tuple[int, int]]:
    sizes = []
    for path in sorted((shared_data / "images-mini").iterdir()):
        with Image.open(path) as image:
            sizes.append((image.height, image.width))
    return sizes


def area_and_log_aspect(boxes, sizes):
    area = np.array([h * w / (sh * sw) for (_, _, h, w), (sh, sw) in zip(boxes, sizes)])
    aspect = np.array([math.log(w / h) for _, _, h, w in boxes])
    return area, aspect


def uncalled_cropmae_sampler(height, width, rng):
    """The sampler defined (but never called) in the CropMAE code: no rejection, clipped."""
    area = height * width * rng.uniform(*SCALE)
    aspect = math.exp(rng.uniform(math.log(RATIO[0]), math.log(RATIO[1])))
    w = min(max(1, round(math.sqrt(area * aspect))), width)
    h = min(max(1, round(math.sqrt(area / aspect))), height)
    return 0, 0, h, w


def test_crop_distribution_equals_torchvision_random_resized_crop(shared_data):
    base = real_sizes(shared_data)
    sizes = [base[i % len(base)] for i in range(DRAWS)]
    torch.manual_seed(0)  # the reference: the transform's sampler on torch's global RNG
    reference = [RandomResizedCrop.get_params(torch.empty(1, 1, 1).expand(1, h, w),
                                          list(SCALE), list(RATIO))
                 for h, w in sizes]
    boxes = []
    for index, (h, w) in enumerate(sizes):  # vprop: one generator per (seed, epoch, index)
        box = sample_box(h, w, SCALE, sample_rng(42, 0, index), RATIO)
        boxes.append((box.top, box.left, box.height, box.width))
    ref_area, ref_aspect = area_and_log_aspect(reference, sizes)
    our_area, our_aspect = area_and_log_aspect(boxes, sizes)
    assert ks_2samp(our_area, ref_area).statistic < 0.02
    assert ks_2samp(our_aspect, ref_aspect).statistic < 0.02
    # the test can tell samplers apart: the uncalled no-rejection sampler is far off
    rng = np.random.default_rng(0)
    old = [uncalled_cropmae_sampler(h, w, rng) for h, w in sizes]
    old_area, _ = area_and_log_aspect(old, sizes)
    assert ks_2samp(old_area, ref_area).statistic > 0.1
    assert old_area.mean() > ref_area.mean() + 0.05


def test_sampler_leaves_torch_rng_alone_and_is_a_function_of_the_generator():
    torch.manual_seed(5)
    before = torch.rand(3)
    torch.manual_seed(5)
    first = sample_box(375, 500, SCALE, np.random.default_rng(7))
    assert torch.equal(torch.rand(3), before)
    assert sample_box(375, 500, SCALE, np.random.default_rng(7)) == first
    # the fallback (no fitting box in 10 tries) is torchvision's centre crop
    box = sample_box(100, 1000, (0.9, 1.0), np.random.default_rng(1))
    assert (box.top, box.left, box.height, box.width) == (0.0, 433.0, 100.0, 133.0)
