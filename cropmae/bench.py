"""Pretraining throughput: model alone (synthetic batches), data pipeline alone, both together.

"Images" are training samples (view pairs): one CropMAE sample is one source image, one
SiamMAE sample is one frame pair. Timings exclude warm-up steps and synchronise the GPU.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import torch

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
    start = time.perf_counter()
    for _ in range(steps):
        loss = _train_step(engine, optimizer, scaler, views, noise, precision, device)
    _sync(device)
    elapsed = time.perf_counter() - start
    result = {"images_per_s": b * steps / elapsed, "step_ms": 1000 * elapsed / steps,
              "precision": precision, "final_loss": float(loss)}
    if device.type == "cuda":
        result["peak_memory_gib"] = torch.cuda.max_memory_allocated(device) / 2**30
    return result


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
            "num_items": len(dataset), "data_format": dataset.source.format}


def bench_end_to_end(config: TrainConfig, device: torch.device, steps: int, warmup: int) -> dict:
    """Training steps fed by the real DataLoader."""
    config, _, sampler, loader = _loader(config)
    engine, optimizer, scaler, precision = _setup(config, device)
    iterator = _batches(loader, sampler, warmup + steps)
    for _ in range(warmup):
        batch = next(iterator)
        _train_step(engine, optimizer, scaler, batch["views"], batch["noise"], precision, device)
    _sync(device)
    start, samples = time.perf_counter(), 0
    for batch in iterator:
        _train_step(engine, optimizer, scaler, batch["views"], batch["noise"], precision, device)
        samples += batch["views"].shape[0]
    _sync(device)
    return {"images_per_s": samples / (time.perf_counter() - start), "precision": precision}


def run_benchmark(config: TrainConfig, steps: int, warmup: int, data_batches: int,
                  end_to_end: bool = True) -> dict[str, Any]:
    """Model-only, data-only and (optionally) end-to-end throughput for one config."""
    device = torch.device("cuda" if config.device in ("auto", "cuda") and
                          torch.cuda.is_available() else "cpu")
    config = resolve(config, None)
    report: dict[str, Any] = {
        "arch": config.arch, "method": config.method, "batch_size": config.batch_size,
        "img_size": config.img_size, "mask_ratio": config.mask_ratio, "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "torch_threads": torch.get_num_threads(), "compile": config.compile,
    }
    report["model"] = bench_model(config, device, steps, warmup)
    if config.data:
        report["data"] = bench_data(dataclasses.replace(config), data_batches, min(warmup, 2))
        report["data_to_model_ratio"] = (report["data"]["images_per_s"]
                                         / report["model"]["images_per_s"])
        if end_to_end:
            report["end_to_end"] = bench_end_to_end(config, device, steps, warmup)
    return report
