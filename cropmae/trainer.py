"""The pretraining engine: DDP, accumulation, autocast, per-step schedule, resumable state.

A run is deterministic given its config: data order comes from ``seed + epoch``, every
sample's crops and mask from ``(seed, epoch, index)``, and the global torch RNG (decoder
dropout) is re-seeded from ``(seed, rank, step)`` before every step. A run stopped after N
steps and resumed from its checkpoint therefore continues the same loss curve.
:func:`vprop.cropmae.train.run_pretraining` is the entry point (lock, torchrun set-up, data
discovery); this module is the :class:`Trainer` it runs.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel

from vprop.benchmarks.settings import cpu_has_native_bf16
from vprop.cropmae import checkpointing as ckpt
from vprop.cropmae import distributed as dist_utils
from vprop.cropmae import factory
from vprop.cropmae.config import TrainConfig, resolve
from vprop.cropmae.data import EpochSampler, default_workers, steps_per_epoch
from vprop.cropmae.loggers import make_sinks
from vprop.cropmae.masking import num_visible_patches
from vprop.cropmae.model import SiameseMAE, normalize_uint8
from vprop.cropmae.run_folder import LAST_CHECKPOINT, epoch_checkpoint, link_or_copy
from vprop.cropmae.runlog import RunLog, Window, end_block, start_block
from vprop.cropmae.schedule import lr_at, scaled_lr, warmup_steps_for
from vprop.cropmae.sources import DataSource
from vprop.errors import VpropError
from vprop.utils import atomic_write_json, package_versions


@dataclass
class TrainResult:
    """What a finished (or deliberately stopped) run left behind."""

    output_dir: Path
    step: int
    epoch: int
    last_checkpoint: Path | None
    stopped_early: bool
    davis: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)


def step_seed(seed: int, rank: int, step: int) -> int:
    """Seed of the global torch RNG for one optimiser step on one rank."""
    return int(np.random.SeedSequence([seed, rank, step, 0x5EED]).generate_state(1)[0])


class Trainer:
    """One pretraining run; build with a config and a :class:`DistEnv`, then :meth:`run`."""

    def __init__(self, config: TrainConfig, env: dist_utils.DistEnv, source: DataSource,
                 resume_path: Path | None = None) -> None:
        """Prepare data, model, optimiser and (when resuming) restore the saved state.

        Args:
            config: The options as given (resolved here for ``source``'s format).
            env: This process's place in the (possibly single-process) job.
            source: The discovered training data (the same list on every rank).
            resume_path: Checkpoint to continue from (``None``: start at step 0).

        ``self.config`` is set once, complete (resolved options + ``derived`` figures), and
        never changed afterwards; messages for the run log wait in ``self.notes`` until
        :meth:`run` opens it.
        """
        self.env, self.out = env, Path(config.output_dir)
        config = resolve(config, source.format)
        if config.workers is None:
            config = dataclasses.replace(config, workers=default_workers())
        self._build_data(config, source)
        self.precision = factory.resolve_precision(config.precision, env.device)
        self.config = dataclasses.replace(config, derived=self._derived(config, source.format))
        factory.configure_backends(env.device)
        torch.manual_seed(config.seed)  # same initial weights on every rank and every run
        self.model: SiameseMAE = factory.build_model(config).to(env.device)
        self.optimizer = factory.build_optimizer(self.model, config, env.device)
        self.scaler = torch.amp.GradScaler(env.device.type, enabled=self.precision == "fp16")
        self.step = 0
        self.resumed_from: Path | None = None
        self.notes: list[str] = []
        if resume_path is not None:
            self._restore(resume_path)
        self.engine = self._engine()
        self.davis_hook = self._davis_hook()
        self.davis_history: list[dict[str, Any]] = []
        self.skipped_seen = 0  # seen by this rank
        self.skipped_total = 0  # summed over ranks at each log line
        self.images_this_run = 0  # global images (pairs) trained on by this process's run
        self.last_loss: float | None = None
        self.last_loss_step = 0

    def _build_data(self, config: TrainConfig, source: DataSource) -> None:
        """Dataset, sampler, loader and the step counts they imply."""
        env = self.env
        source = factory.subset_source(source, config.subset, config.seed)
        self.dataset = factory.build_dataset(config, source)
        self.sampler = EpochSampler(len(self.dataset), env.rank, env.world_size, config.seed)
        self.loader = factory.build_loader(self.dataset, self.sampler, config.batch_size,
                                           config.workers, env.device.type == "cuda")
        self.steps_per_epoch = steps_per_epoch(len(self.dataset), env.world_size,
                                               config.batch_size, config.accum_iter)
        if self.steps_per_epoch == 0:
            raise VpropError(f"{len(self.dataset)} items are fewer than one global batch "
                             f"({config.batch_size} x {config.accum_iter} x {env.world_size})")
        self.total_steps = config.epochs * self.steps_per_epoch
        self.global_batch = config.batch_size * config.accum_iter * env.world_size
        self.peak_lr = config.lr if config.lr is not None else scaled_lr(config.blr,
                                                                         self.global_batch)
        self.warmup_steps = warmup_steps_for(config.warmup_epochs, self.steps_per_epoch)

    def _derived(self, config: TrainConfig, data_format: str) -> dict[str, Any]:
        """Figures the options imply on this machine (``config.json``'s ``derived``)."""
        return {
            "world_size": self.env.world_size, "global_batch": self.global_batch,
            "pairs_per_step": self.global_batch * config.repeated_sampling,
            "lr": self.peak_lr, "warmup_steps": self.warmup_steps,
            "steps_per_epoch": self.steps_per_epoch, "total_steps": self.total_steps,
            "data_format": data_format, "num_items": len(self.dataset),
            "precision": self.precision, "device": str(self.env.device),
            "versions": package_versions(),
        }

    def _engine(self) -> torch.nn.Module:
        """The module the steps call: the model, wrapped in DDP and/or torch.compile."""
        engine: torch.nn.Module = self.model
        if self.env.distributed:
            ids = [self.env.local_rank] if self.env.device.type == "cuda" else None
            engine = DistributedDataParallel(self.model, device_ids=ids)
        return torch.compile(engine) if self.config.compile else engine

    def _davis_hook(self):
        """The ``--eval-davis`` hook on rank 0 (the root is checked on every rank)."""
        if not self.config.eval_davis:
            return None
        from vprop.cropmae.davis_hook import check_davis_root, make_davis_hook

        check_davis_root(self.config.eval_davis)  # on every rank: all fail together, none hang
        if not self.env.is_main:
            return None
        return make_davis_hook(self.config.eval_davis, self.config.arch, self.env.device,
                               self.out)

    def _restore(self, path: Path) -> None:
        payload = ckpt.load_checkpoint(path)
        meta = payload["vprop"]
        if meta["method"] != self.config.method or meta["arch"] != self.config.arch:
            raise VpropError(f"checkpoint is {meta['method']}/{meta['arch']}, the run asks for "
                             f"{self.config.method}/{self.config.arch}", path)
        ckpt.import_model_state(self.model, payload["model"])
        self.optimizer.load_state_dict(payload["optimizer"])
        if payload.get("scaler"):
            self.scaler.load_state_dict(payload["scaler"])
        self.step = int(payload["step"])
        saved_spe = payload.get("progress", {}).get("steps_per_epoch", self.steps_per_epoch)
        if saved_spe != self.steps_per_epoch:
            epoch = int(payload["epoch"])
            self.step = epoch * self.steps_per_epoch
            self.notes.append(f"steps per epoch changed ({saved_spe} -> "
                              f"{self.steps_per_epoch}); resuming at the start of epoch {epoch}")
        ckpt.restore_rng(payload["rng"])
        self.resumed_from = path
        self.notes.insert(0, f"resumed from {path} at step {self.step}")

    # ------------------------------------------------------------------ loop
    def run(self) -> TrainResult:
        """Train until the last epoch (or ``stop_after_steps``); returns what was written."""
        config, env = self.config, self.env
        if env.is_main:
            self.out.mkdir(parents=True, exist_ok=True)
            atomic_write_json(self.out / "config.json", config.to_json())
        sinks = (make_sinks(config.logger, self.out, config.to_json(), config.wandb_project)
                 if env.is_main else [])
        log = RunLog(self.out, env.is_main, self.total_steps, self.step, config.progress, sinks)
        for note in self.notes:
            log.say(note)
        visible = num_visible_patches(self.model.num_patches, config.mask_ratio)
        if visible == 0:
            log.say(f"warning: --mask-ratio {config.mask_ratio} leaves 0 of "
                    f"{self.model.num_patches} patches of view 2 visible")
        log.say(start_block(config, self.resumed_from, self.step))
        if self.precision == "bf16" and env.device.type == "cpu" and not cpu_has_native_bf16():
            log.say("warning: --precision bf16 on a CPU without native bfloat16 instructions is "
                    "emulated (several times slower than fp32)")
        start_step, started = self.step, time.perf_counter()
        try:
            last_path, stopped = self._epochs(log)
        finally:
            log.close()
        dist_utils.barrier(env)
        seconds = time.perf_counter() - started
        summary = {
            "step": self.step, "total_steps": self.total_steps,
            "epoch": self.step // self.steps_per_epoch, "steps_this_run": self.step - start_step,
            "stopped_early": stopped, "last_loss": self.last_loss,
            "last_loss_step": self.last_loss_step, "seconds": seconds,
            "images_per_s": self.images_this_run / seconds if seconds > 0 else 0.0,
            "checkpoint": None if last_path is None else str(last_path),
            "davis": self.davis_history, "skipped_items": self.skipped_total,
            "written": [str(self.out / name) for name in ("config.json", "log.jsonl",
                                                          "train.log")]
            + [str(path) for path in sorted(self.out.glob("checkpoint-0*.pth"))],
        }
        log.say(end_block(summary))
        return TrainResult(self.out, self.step, self.step // self.steps_per_epoch, last_path,
                           stopped, self.davis_history, summary)

    def _epochs(self, log: RunLog) -> tuple[Path | None, bool]:
        """The epoch loop; returns (last checkpoint written, stopped early)."""
        config = self.config
        last_path: Path | None = None
        self.model.train()
        window = Window()
        for epoch in range(self.step // self.steps_per_epoch, config.epochs):
            done = self.step - epoch * self.steps_per_epoch
            self.sampler.set_epoch(epoch, start=done * config.batch_size * config.accum_iter)
            batches = iter(self.loader)
            for _ in range(done, self.steps_per_epoch):
                lr = self._train_step(batches, window, log)
                if self.step % config.log_every == 0 or self.step == self.total_steps:
                    self._log(log, window, epoch, lr)
                elif log.wants_refresh():  # this rank's figures since the last log line
                    elapsed = max(time.perf_counter() - window.start, 1e-9)
                    log.step(float(window.loss_sum) / max(window.loss_count, 1), lr,
                             window.samples * self.env.world_size / elapsed)
                else:
                    log.step()
                stop = config.stop_after_steps is not None and self.step >= config.stop_after_steps
                periodic = config.save_every_steps and self.step % config.save_every_steps == 0
                if stop or periodic:
                    last_path = self._save(epoch, numbered=False)
                if stop:
                    return last_path, True
            final = epoch + 1 == config.epochs
            if final or (epoch + 1) % config.save_every == 0:
                last_path = self._save(epoch + 1, numbered=True)
            if config.eval_davis and (final or (epoch + 1) % config.eval_every == 0):
                self._evaluate_davis(log, epoch + 1)
            self._log_panel(log, epoch + 1, final)
        return last_path, False

    def _train_step(self, batches, window: Window, log: RunLog) -> float:
        config, env = self.config, self.env
        lr = lr_at(self.step, self.peak_lr, self.warmup_steps, self.total_steps, config.min_lr)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        torch.manual_seed(step_seed(config.seed, env.rank, self.step))
        for micro in range(config.accum_iter):
            waited = time.perf_counter()
            batch = next(batches)
            window.data_s += time.perf_counter() - waited
            self._note_skipped(batch["skipped"], window, log)
            views = batch["views"].to(env.device, non_blocking=True)  # (B, 2, 3, S, S) uint8
            noise = batch["noise"].to(env.device, non_blocking=True)  # (B, L)
            views = normalize_uint8(views)
            sync = micro == config.accum_iter - 1 or not env.distributed
            no_sync = contextlib.nullcontext() if sync else self.engine.no_sync()
            with no_sync, factory.autocast_context(self.precision, env.device):
                out = self.engine(views[:, 0], views[:, 1], noise)
            self.scaler.scale(out["loss"] / config.accum_iter).backward()
            window.add_loss(out["loss"].detach(), views.shape[0])
            self.images_this_run += views.shape[0] * env.world_size
        if config.clip_grad is not None:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), config.clip_grad)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)
        self.step += 1
        window.steps += 1
        return lr

    def _note_skipped(self, messages: list[str], window: Window, log: RunLog) -> None:
        window.skipped += len(messages)
        for message in messages:  # other ranks only count theirs (skipped_total in the log)
            self.skipped_seen += 1
            log.say(f"warning: skipped unreadable item ({self.skipped_seen} on rank 0 so "
                         f"far): {message}")

    def _log(self, log: RunLog, window: Window, epoch: int, lr: float) -> None:
        stats = torch.tensor([0.0, window.loss_count, window.samples, window.skipped],
                             dtype=torch.float64, device=self.env.device)
        stats[0] = torch.as_tensor(window.loss_sum, dtype=torch.float64)
        dist_utils.all_reduce_sum(stats, self.env)  # one small collective per log line
        loss = float(stats[0] / max(stats[1], 1))
        elapsed = max(time.perf_counter() - window.start, 1e-9)
        images_per_s = float(stats[2]) / elapsed
        if not math.isfinite(loss):
            raise VpropError(f"loss became {loss} at step {self.step}; try --precision fp32, "
                             f"a lower --blr or --clip-grad")
        self.skipped_total += int(stats[3])
        log.record({"step": self.step, "epoch": epoch,
                    "epoch_progress": self.step / self.steps_per_epoch, "loss": loss, "lr": lr,
                    "images_per_s": images_per_s, "data_wait_frac": window.data_s / elapsed,
                    "skipped_total": self.skipped_total, "time": time.time()})
        log.step(loss, lr, images_per_s)
        log.line(self.step, epoch, loss, lr, images_per_s)
        self.last_loss, self.last_loss_step = loss, self.step
        window.reset()

    def _payload(self, epoch: int) -> dict[str, Any]:
        spec_patch = self.model.patch_size
        return ckpt.build_payload(
            model=self.model, optimizer=self.optimizer, scaler=self.scaler,
            arch=self.config.arch, method=self.config.method, img_size=self.config.img_size,
            patch_size=spec_patch, epoch=self.step // self.steps_per_epoch, step=self.step,
            args=self.config.to_json(),
            progress={"steps_per_epoch": self.steps_per_epoch, "total_steps": self.total_steps},
        )

    def _save(self, epoch: int, numbered: bool) -> Path:
        last = self.out / LAST_CHECKPOINT
        if self.env.is_main:
            path = ckpt.save_checkpoint(last, self._payload(epoch))
            if numbered:
                link_or_copy(path, epoch_checkpoint(self.out, epoch))
            if self.config.show_reconstructions:
                from vprop.cropmae.recon_viz import write_panel_for_dataset

                write_panel_for_dataset(self.model, self.dataset, self.config.recon_count,
                                        self.out / "reconstructions" / f"step{self.step:08d}.png",
                                        self.env.device)
                self.model.train()
        dist_utils.barrier(self.env)
        return last

    def _log_panel(self, log: RunLog, epoch: int, final: bool) -> None:
        """Send the Fig. 3 panel to the tracker every ``log_images_every`` epochs (rank 0)."""
        every = self.config.log_images_every
        if not log.sinks or not every or not (final or epoch % every == 0):
            return
        from vprop.cropmae.recon_viz import panel_for_dataset

        log.image("reconstructions", panel_for_dataset(self.model, self.dataset,
                                                       self.config.recon_count), self.step)
        self.model.train()

    def _evaluate_davis(self, log: RunLog, epoch: int) -> None:
        if self.env.is_main and self.davis_hook is not None:
            started = time.perf_counter()
            score = self.davis_hook(ckpt.encoder_state(self.model))
            entry = {"event": "davis", "epoch": epoch, "step": self.step, "J&F": score,
                     "seconds": time.perf_counter() - started}
            self.davis_history.append(entry)
            log.record(entry)
            log.say(f"DAVIS J&F after epoch {epoch}: {score:.4f}")
            self.model.train()
        dist_utils.barrier(self.env)
