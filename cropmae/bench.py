"""Pretraining throughput: model alone (synthetic batches), data pipeline alone, both together.

"Images" are training samples (view pairs): one CropMAE sample is one source image, one
SiamMAE sample is one frame pair. Timings exclude warm-up steps and synchronise the GPU.

Also reported: forward FLOPs of one pair counted by ``torch.utils.flop_counter`` (matmuls
and convolutions; the CropMAE paper's Table 2 "GFLOPs", 5.6 CropMAE / 5.8 SiamMAE at
ViT-S/16, are multiply-accumulates, i.e. half of these FLOPs), and for the end-to-end run the
fraction of wall time the host spent blocked on the loader and the fraction of the model-only
step rate that was lost (what the accelerator spent waiting for data).
"""

from __future__ import annotations

import dataclasses
import time
import warnings
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

from vprop.checkpoints.registry import arch_info
from vprop.cropmae import factory
from vprop.cropmae.config import TrainConfig, resolve
from vprop.cropmae.data import EpochSampler
from vprop.cropmae.model import normalize_uint8
from vprop.cropmae.sources import discover


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _train_step(model, optimizer, scaler, views, noise, precision, device) -> torch.Tensor:
    views = normalize_uint8(views.to(device, non_blocking=True))
    with factory.autocast_context(precision, device):
        loss = model(views[:, 0], views[:, 1], noise.to(device, non_blocking=True))["loss"]
    scaler.scale(loss).backward()
    scaler.step(optimizer)
    scaler.update()
    optimizer.zero_grad(set_to_none=True)
    return loss.detach()


def _setup(config: TrainConfig, device: torch.device):
    factory.configure_backends(device)
    torch.manual_seed(config.seed)
    model = factory.build_model(config).to(device).train()
    optimizer = factory.build_optimizer(model, config, device)
    for group in optimizer.param_groups:
        group["lr"] = 1e-4
    precision = factory.resolve_precision(config.precision, device)
    scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16")
    engine = torch.compile(model) if config.compile else model
    return engine, optimizer, scaler, precision


def bench_model(config: TrainConfig, device: torch.device, steps: int, warmup: int) -> dict:
    """Full training steps (forward, backward, AdamW) on a fixed in-memory batch."""
    engine, optimizer, scaler, precision = _setup(config, device)
    s, b = config.img_size, config.batch_size
    generator = torch.Generator().manual_seed(0)
    views = torch.randint(0, 256, (b, 2, 3, s, s), dtype=torch.uint8, generator=generator)
    num_patches = (s // arch_info(config.arch).patch_size) ** 2
    noise = torch.rand(b, num_patches, generator=generator)
    views, noise = views.to(device), noise.to(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    for _ in range(warmup):
        _train_step(engine, optimizer, scaler, views, noise, precision, device)
    _sync(device)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if device.type == "cuda":  # any host synchronisation inside a step is reported
            torch.cuda.set_sync_debug_mode("warn")
        start = time.perf_counter()
        for _ in range(steps):
            loss = _train_step(engine, optimizer, scaler, views, noise, precision, device)
        if device.type == "cuda":
            torch.cuda.set_sync_debug_mode("default")
        _sync(device)
        elapsed = time.perf_counter() - start
    syncs = sum("synchroniz" in str(w.message) for w in caught)
    result = {"images_per_s": b * steps / elapsed, "step_ms": 1000 * elapsed / steps,
              "precision": precision, "final_loss": float(loss),
              "host_syncs_per_step": syncs / steps if device.type == "cuda" else None}
    if device.type == "cuda":
        result["peak_memory_gib"] = torch.cuda.max_memory_allocated(device) / 2**30
    return result


def flops_per_pair(config: TrainConfig) -> dict[str, float]:
    """Forward and backward FLOPs of one view pair (``torch.utils.flop_counter``), in G."""
    model = factory.build_model(config).train()
    model.set_fast_paths(fused_attention=False)  # fused CPU attention kernels are not counted
    s = config.img_size
    generator = torch.Generator().manual_seed(0)
    views = torch.randn(1, 2, 3, s, s, generator=generator)
    noise = torch.rand(1, model.num_patches, generator=generator)
    with FlopCounterMode(display=False) as forward:
        loss = model(views[:, 0], views[:, 1], noise)["loss"]
    with FlopCounterMode(display=False) as backward:
        loss.backward()
    fwd = forward.get_total_flops() / 1e9
    return {"forward_gflops": fwd, "forward_gmacs": fwd / 2,
            "backward_gflops": backward.get_total_flops() / 1e9}


def _loader(config: TrainConfig):
    source = discover(config.data, config.data_format, config.method)
    config = resolve(config, source.format)
    dataset = factory.build_dataset(config, source)
    sampler = EpochSampler(len(dataset), seed=config.seed)
    loader = factory.build_loader(dataset, sampler, config.batch_size, config.workers,
                                  pin_memory=torch.cuda.is_available())
    return config, dataset, sampler, loader


def _batches(loader, sampler, count: int):
    """Yield ``count`` batches, cycling through epochs if the dataset is small."""
    epoch, produced = 0, 0
    while produced < count:
        sampler.set_epoch(epoch)
        for batch in loader:
            yield batch
            produced += 1
            if produced == count:
                return
        epoch += 1


def bench_data(config: TrainConfig, batches: int, warmup: int) -> dict:
    """Decode + crop + collate throughput of the DataLoader, no model."""
    config, dataset, sampler, loader = _loader(config)
    iterator = _batches(loader, sampler, warmup + batches)
    for _ in range(warmup):
        next(iterator)
    start = time.perf_counter()
    samples = sum(batch["views"].shape[0] for batch in iterator)
    elapsed = time.perf_counter() - start
    return {"images_per_s": samples / elapsed, "workers": config.workers,
            "images_per_s_per_worker": samples / elapsed / max(1, config.workers),
            "num_items": len(dataset), "data_format": dataset.source.format,
            "reduced_decode": config.reduced_decode}


def bench_end_to_end(config: TrainConfig, device: torch.device, steps: int, warmup: int) -> dict:
    """Training steps fed by the real DataLoader."""
    config, _, sampler, loader = _loader(config)
    engine, optimizer, scaler, precision = _setup(config, device)
    iterator = _batches(loader, sampler, warmup + steps)
    for _ in range(warmup):
        batch = next(iterator)
        _train_step(engine, optimizer, scaler, batch["views"], batch["noise"], precision, device)
    _sync(device)
    start, samples, waited = time.perf_counter(), 0, 0.0
    while True:
        before = time.perf_counter()
        batch = next(iterator, None)
        waited += time.perf_counter() - before
        if batch is None:
            break
        _train_step(engine, optimizer, scaler, batch["views"], batch["noise"], precision, device)
        samples += batch["views"].shape[0]
    _sync(device)
    elapsed = time.perf_counter() - start
    return {"images_per_s": samples / elapsed, "precision": precision,
            "host_wait_frac": waited / elapsed}


def run_benchmark(config: TrainConfig, steps: int, warmup: int, data_batches: int,
                  end_to_end: bool = True, model: bool = True) -> dict[str, Any]:
    """Model-only, data-only and (optionally) end-to-end throughput for one config."""
    device = torch.device("cuda" if config.device in ("auto", "cuda") and
                          torch.cuda.is_available() else "cpu")
    config = resolve(config, None)
    report: dict[str, Any] = {
        "arch": config.arch, "method": config.method, "batch_size": config.batch_size,
        "img_size": config.img_size, "mask_ratio": config.mask_ratio, "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "torch_threads": torch.get_num_threads(), "compile": config.compile,
        "fast_paths": {name: getattr(config, name) for name in
                       ("reduced_decode", "fused_attention", "fused_adamw", "channels_last")},
    }
    if model:
        report["flops_per_pair"] = flops_per_pair(config)
        report["model"] = bench_model(config, device, steps, warmup)
    if config.data:
        report["data"] = bench_data(dataclasses.replace(config), data_batches, min(warmup, 2))
        if model:
            report["data_to_model_ratio"] = (report["data"]["images_per_s"]
                                             / report["model"]["images_per_s"])
        if model and end_to_end:
            e2e = report["end_to_end"] = bench_end_to_end(config, device, steps, warmup)
            e2e["lost_to_data_frac"] = max(
                0.0, 1.0 - e2e["images_per_s"] / report["model"]["images_per_s"])
    return report
