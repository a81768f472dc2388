"""`vprop pretrain`: CropMAE / SiamMAE pretraining (paper defaults; ablation knobs as flags).

Multi-GPU / multi-node: ``torchrun --nproc_per_node G [--nnodes N ...] -m vprop.cli.main
pretrain ...`` (``--batch-size`` is per process; lr = blr x global batch / 256).
"""

from __future__ import annotations

import click

from vprop.benchmarks.settings import PRECISIONS
from vprop.cli.aliases import option_with_alias, take
from vprop.cropmae.config import CROP_STRATEGIES, DATA_FORMATS, METHODS, TrainConfig
from vprop.cropmae.loggers import LOGGERS
from vprop.safety import FINITE

_D = TrainConfig()


def _pair(kind):
    return click.Tuple([kind, kind])


@click.command(name="pretrain")
@click.option("--method", type=click.Choice(METHODS), default=_D.method, show_default=True,
              help="cropmae: two crops of one image; siammae: two frames of one video.")
@click.option("--data", required=True,
              help="Image folder (recursive), video folder or video list file, or a folder of "
                   "frame folders.")
@click.option("--data-format", type=click.Choice(DATA_FORMATS), default=_D.data_format,
              show_default=True, help="How to read --data (auto guesses from its content).")
@click.option("--video-backend", type=click.Choice(["pyav", "decord"]),
              default=_D.video_backend, show_default=True)
@click.option("--subset", type=int, default=None,
              help="Train on a seeded random subset of this many items (e.g. 239787).")
@option_with_alias("--out", "--output-dir", "output_dir",
                   help="Run folder: checkpoints, config.json, log.jsonl, train.log, "
                        f"reconstructions/ [default: {_D.output_dir}].")
@click.option("--arch", default=_D.arch, show_default=True, help="ViT (timm name, alias).")
@click.option("--img-size", type=int, default=_D.img_size, show_default=True)
@click.option("--mask-ratio", type=FINITE, default=None,
              help="Masked fraction of view 2 [default: 0.985 cropmae, 0.95 siammae].")
@click.option("--decoder-dim", type=int, default=_D.decoder_dim, show_default=True)
@click.option("--decoder-depth", type=int, default=_D.decoder_depth, show_default=True)
@click.option("--decoder-heads", type=int, default=_D.decoder_heads, show_default=True)
@click.option("--decoder-ffn-dim", type=int, default=_D.decoder_ffn_dim, show_default=True)
@click.option("--decoder-dropout", type=FINITE, default=_D.decoder_dropout, show_default=True)
@click.option("--norm-pix-loss/--no-norm-pix-loss", default=_D.norm_pix_loss, show_default=True,
              help="Regress per-patch normalised pixels.")
@click.option("--crop-strategy", type=click.Choice(CROP_STRATEGIES), default=_D.crop_strategy,
              show_default=True, help="CropMAE view relation (paper Fig. 2).")
@click.option("--global-scale", type=_pair(FINITE), default=None,
              help="Area range of the global crop (SiamMAE: the shared crop) [default: "
                   "0.1 1.0 on images, 0.5 1.0 on video frames].")
@click.option("--local-scale", type=_pair(FINITE), default=_D.local_scale, show_default=True,
              help="Area range of the local crop, relative to the global view.")
@click.option("--aspect-ratio", type=_pair(FINITE), default=_D.aspect_ratio, show_default=True)
@click.option("--flip-p", type=FINITE, default=_D.flip_p, show_default=True,
              help="Horizontal flip probability (per view for CropMAE, shared for SiamMAE).")
@click.option("--color-jitter", is_flag=True, help="Colour jitter on view 1 (ablation).")
@click.option("--gaussian-blur", is_flag=True, help="Gaussian blur on view 1 (ablation).")
@click.option("--interpolation", type=click.Choice(["bilinear", "bicubic"]),
              default=_D.interpolation, show_default=True)
@click.option("--frame-gap", type=_pair(int), default=_D.frame_gap, show_default=True,
              help="SiamMAE frame gap range [low, high).")
@click.option("--repeated-sampling", type=int, default=_D.repeated_sampling, show_default=True,
              help="Pairs drawn per decoded clip/image.")
@click.option("--epochs", type=int, default=_D.epochs, show_default=True)
@click.option("--batch-size", type=int, default=_D.batch_size, show_default=True,
              help="Per process; paper: 128 x 16 GPUs = 2048.")
@click.option("--accum-iter", type=int, default=_D.accum_iter, show_default=True,
              help="Gradient accumulation steps.")
@click.option("--blr", type=FINITE, default=_D.blr, show_default=True,
              help="Base lr; lr = blr x global batch / 256.")
@click.option("--lr", type=FINITE, default=None, help="Absolute lr (overrides --blr).")
@click.option("--min-lr", type=FINITE, default=_D.min_lr, show_default=True)
@click.option("--warmup-epochs", type=FINITE, default=None,
              help="Linear warmup length [default: 5% of --epochs].")
@click.option("--weight-decay", type=FINITE, default=_D.weight_decay, show_default=True)
@click.option("--betas", type=_pair(FINITE), default=_D.betas, show_default=True)
@click.option("--clip-grad", type=FINITE, default=None, help="Clip the gradient norm.")
@click.option("--precision", type=click.Choice(PRECISIONS), default=_D.precision,
              show_default=True, help="auto: bf16 (else fp16) autocast on GPU, fp32 on CPU.")
@click.option("--compile", "compile_", is_flag=True, help="torch.compile the model.")
@click.option("--reduced-decode/--no-reduced-decode", default=_D.reduced_decode,
              show_default=True, help="Decode JPEGs at 1/2, 1/4, 1/8 when the crop allows.")
@click.option("--gpu-decode", is_flag=True,
              help="Decode JPEGs and cut the views on the GPU (nvJPEG), in batches.")
@click.option("--fused-attention/--no-fused-attention", default=_D.fused_attention,
              show_default=True, help="SDPA (flash / memory-efficient) attention kernels.")
@click.option("--fused-adamw/--no-fused-adamw", default=_D.fused_adamw, show_default=True,
              help="One fused AdamW kernel on CUDA (no effect on CPU).")
@click.option("--channels-last/--no-channels-last", default=_D.channels_last,
              show_default=True, help="Channels-last views for the patch-embedding conv.")
@click.option("--device", default=_D.device, show_default=True, help="auto, cuda or cpu.")
@click.option("--workers", type=int, default=None, help="Loader workers per process.")
@click.option("--seed", type=int, default=_D.seed, show_default=True)
@click.option("--save-every", type=int, default=_D.save_every, show_default=True,
              help="Keep a numbered checkpoint every N epochs (and at the end).")
@click.option("--save-every-steps", type=int, default=_D.save_every_steps, show_default=True,
              help="Also refresh checkpoint-last.pth every N steps (0: off).")
@click.option("--resume", default=None,
              help="Checkpoint to continue from, or 'auto' (OUT/checkpoint-last.pth).")
@click.option("--stop-after-steps", type=int, default=None,
              help="Save and stop after this many steps (schedule unchanged).")
@click.option("--log-every", type=int, default=_D.log_every, show_default=True,
              help="Steps between log.jsonl lines.")
@click.option("--no-progress", is_flag=True, help="No progress bar.")
@click.option("--eval-davis", default=None, help="DAVIS-2017 root: evaluate J&F during training.")
@click.option("--eval-every", type=int, default=_D.eval_every, show_default=True,
              help="Epochs between DAVIS evaluations.")
@click.option("--show-reconstructions", is_flag=True,
              help="Write the Fig. 3 panel at every checkpoint (OUT/reconstructions).")
@click.option("--recon-count", type=int, default=_D.recon_count, show_default=True)
@click.option("--logger", type=click.Choice(LOGGERS), default=_D.logger, show_default=True,
              help="Also log to TensorBoard (OUT/tensorboard) or W&B (offline without "
                   "a key); log.jsonl is always written.")
@click.option("--log-images-every", type=int, default=_D.log_images_every, show_default=True,
              help="Epochs between reconstruction panels sent to the tracker (0: never).")
@click.option("--wandb-project", default=_D.wandb_project, show_default=True)
def command(**options) -> None:
    """Pretrain a ViT with CropMAE or SiamMAE (output: runs/pretrain unless --out)."""
    from vprop.cropmae.train import run_pretraining

    options["output_dir"], out_option = take(options, "output_dir", "--out", "--output-dir",
                                             _D.output_dir)
    options["compile"] = options.pop("compile_")
    options["progress"] = not options.pop("no_progress")
    run_pretraining(TrainConfig(**options), out_option)  # prints start/end summaries (rank 0)
