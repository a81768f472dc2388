"""Numeric precision names shared by every command (torch-free, so the CLI imports it cheaply).

``vprop pretrain``, ``vprop bench pretrain`` and ``vprop eval`` take ``--precision`` with these
choices. ``auto`` is resolved where the device is known (pretraining: bf16 on a GPU that
supports it, else fp16 on GPU, fp32 on CPU; see ``vprop.cropmae.factory.resolve_precision``).
"""

from __future__ import annotations

PRECISIONS: tuple[str, ...] = ("auto", "bf16", "fp16", "fp32")

