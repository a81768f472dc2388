"""Learning-rate rule and per-step schedule: linear warmup then half-cosine (MAE recipe)."""

from __future__ import annotations

import math


def scaled_lr(base_lr: float, global_batch: int) -> float:
    """Linear scaling rule: ``lr = base_lr * global_batch / 256``."""
    return base_lr * global_batch / 256.0


def lr_at(step: int, peak_lr: float, warmup_steps: int, total_steps: int,
          min_lr: float = 0.0) -> float:
    """Learning rate used for optimiser step ``step`` (0-based).

    Linear warmup from 0 over ``warmup_steps`` (step s gets peak * s / warmup), then a
    half-cosine from ``peak_lr`` down to ``min_lr`` at ``total_steps``.

    Args:
        step: Optimiser steps already taken.
        peak_lr: Learning rate at the end of warmup.
        warmup_steps: Length of the warmup in steps.
        total_steps: Steps of the whole run.
        min_lr: Final learning rate.

    Returns:
        The learning rate.
    """
    if step < warmup_steps:
        return peak_lr * step / warmup_steps
    decay_steps = max(1, total_steps - warmup_steps)
    progress = min(1.0, (step - warmup_steps) / decay_steps)
    return min_lr + (peak_lr - min_lr) * 0.5 * (1.0 + math.cos(math.pi * progress))


def warmup_steps_for(warmup_epochs: float, steps_per_epoch: int) -> int:
    """Warmup length in steps for a (possibly fractional) number of epochs."""
    return int(round(warmup_epochs * steps_per_epoch))
