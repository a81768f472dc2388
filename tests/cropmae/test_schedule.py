import math

import pytest

from vprop.cropmae.schedule import lr_at, scaled_lr, warmup_steps_for


def test_linear_scaling_rule_for_the_paper_batch():
    # PROTOCOLS section 5: lr = 1e-4 * 2048 / 256
    assert scaled_lr(1e-4, 2048) == pytest.approx(8e-4)


def test_warmup_is_linear_from_zero_to_peak():
    assert lr_at(0, 1.0, 10, 100) == 0.0
    assert lr_at(5, 1.0, 10, 100) == pytest.approx(0.5)
    assert lr_at(10, 1.0, 10, 100) == pytest.approx(1.0)


def test_half_cosine_decay_to_min_lr():
    peak, low, warm, total = 2.0, 0.2, 10, 110
    assert lr_at(60, peak, warm, total, low) == pytest.approx((peak + low) / 2)
    quarter = low + (peak - low) * 0.5 * (1 + math.cos(math.pi / 4))
    assert lr_at(35, peak, warm, total, low) == pytest.approx(quarter)
    assert lr_at(110, peak, warm, total, low) == pytest.approx(low)


def test_warmup_of_five_percent_of_400_epochs():
    assert warmup_steps_for(0.05 * 400, 117) == 20 * 117
