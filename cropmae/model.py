"""Siamese masked autoencoder (SiamMAE / CropMAE): shared ViT encoder + cross-attention decoder.

View 1 is encoded whole, view 2 with all but a few patches dropped (MAE masking). A small
post-norm transformer decoder rebuilds every patch of view 2 from its visible tokens, mask
tokens and cross-attention to view 1; the loss is the MSE on the masked patches.
"""

from __future__ import annotations

import contextlib
import functools

import torch
import torch.nn.functional as F
from torch import nn

from vprop.cropmae.masking import MaskedTokens, normalize_patches, patchify, random_masking
from vprop.cropmae.pos_embed import sincos_2d
from vprop.propagation.presets import IMAGENET_MEAN, IMAGENET_STD


@functools.lru_cache(maxsize=8)
def _mean_std(device: torch.device, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """(3, 1, 1) ImageNet mean and std, scaled to uint8 units, cached per device/dtype."""
    mean = torch.tensor(IMAGENET_MEAN, dtype=torch.float64).view(3, 1, 1) * 255.0
    std = torch.tensor(IMAGENET_STD, dtype=torch.float64).view(3, 1, 1) * 255.0
    return mean.to(device, dtype), std.to(device, dtype)


def normalize_uint8(images: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """(..., 3, H, W) uint8 -> ImageNet-normalised float of ``dtype`` (on the same device)."""
    mean, std = _mean_std(images.device, dtype)
    return (images.to(dtype) - mean) / std


class DecoderBlock(nn.Module):
    """Post-norm decoder block: cross-attention to view 1, FFN, then self-attention.

    ``x = LN(x + CrossAttn(x, memory)); x = LN(x + FFN(x)); x = LN(x + SelfAttn(x))``, with
    GELU in the FFN and dropout on attention weights, the FFN hidden layer and every branch.
    """

    def __init__(self, dim: int, num_heads: int, ffn_dim: int = 2048, dropout: float = 0.1):
        """Build a block of width ``dim`` with ``num_heads`` heads and an FFN of ``ffn_dim``."""
        super().__init__()
        self.cross_attn = nn.MultiheadAttention(dim, num_heads, dropout=dropout, batch_first=True)
        self.cross_norm = nn.LayerNorm(dim, eps=1e-6)
        self.ffn = nn.Sequential(
            nn.Linear(dim, ffn_dim), nn.GELU(), nn.Dropout(dropout), nn.Linear(ffn_dim, dim)
        )
        self.ffn_norm = nn.LayerNorm(dim, eps=1e-6)
        self.self_attn = nn.MultiheadAttention(dim, num_heads, dropout=dropout, batch_first=True)
        self.self_norm = nn.LayerNorm(dim, eps=1e-6)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
        """x: (N, Lq, dim) queries (view 2); memory: (N, Lm, dim) view-1 tokens."""
        attended = self.cross_attn(x, memory, memory, need_weights=False)[0]
        x = self.cross_norm(x + self.dropout(attended))
        x = self.ffn_norm(x + self.dropout(self.ffn(x)))
        attended = self.self_attn(x, x, x, need_weights=False)[0]
        return self.self_norm(x + self.dropout(attended))


class SiameseMAE(nn.Module):
    """Siamese ViT encoder + cross-attention decoder reconstructing the masked view 2.

    Args:
        encoder: A timm VisionTransformer with a CLS token and no register tokens; its
            ``pos_embed`` is replaced by a fixed 2-D sin-cos table (zero CLS entry).
        mask_ratio: Fraction of view-2 patches masked (0.985 CropMAE, 0.95 SiamMAE).
        decoder_dim: Decoder width (256).
        decoder_depth: Decoder blocks (4).
        decoder_heads: Decoder attention heads (8).
        decoder_ffn_dim: Decoder FFN width (2048).
        decoder_dropout: Decoder dropout (0.1).
        norm_pix_loss: Regress per-patch normalised pixels (MAE's norm_pix_loss).
    """

    def __init__(self, encoder: nn.Module, mask_ratio: float = 0.985, decoder_dim: int = 256,
                 decoder_depth: int = 4, decoder_heads: int = 8, decoder_ffn_dim: int = 2048,
                 decoder_dropout: float = 0.1, norm_pix_loss: bool = True) -> None:
        super().__init__()
        has_cls = getattr(encoder, "cls_token", None) is not None
        if not has_cls or getattr(encoder, "reg_token", None) is not None:
            raise ValueError("the encoder must be a timm ViT with a CLS token, no register token")
        self.encoder = encoder
        self.mask_ratio = mask_ratio
        self.norm_pix_loss = norm_pix_loss
        self.patch_size = int(encoder.patch_embed.patch_size[0])
        self.grid = tuple(int(g) for g in encoder.patch_embed.grid_size)
        dim = encoder.embed_dim
        encoder.pos_embed.requires_grad_(False)
        with torch.no_grad():
            encoder.pos_embed.copy_(sincos_2d(dim, *self.grid).unsqueeze(0))
        self.decoder_embed = nn.Linear(dim, decoder_dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, decoder_dim))
        self.register_buffer("decoder_pos_embed", sincos_2d(decoder_dim, *self.grid).unsqueeze(0))
        self.decoder_blocks = nn.ModuleList(
            DecoderBlock(decoder_dim, decoder_heads, decoder_ffn_dim, decoder_dropout)
            for _ in range(decoder_depth)
        )
        self.decoder_norm = nn.LayerNorm(decoder_dim, eps=1e-6)
        self.decoder_pred = nn.Linear(decoder_dim, self.patch_size**2 * 3)
        self._init_weights()
        self.fused_attention = True
        self.channels_last = False

    def set_fast_paths(self, fused_attention: bool = True, channels_last: bool = False) -> None:
        """Choose the attention kernels and the memory format of the views (same maths).

        Args:
            fused_attention: PyTorch SDPA (flash / memory-efficient kernels on CUDA) in the
                encoder (timm's ``fused_attn``) and the decoder; ``False``: timm's explicit
                softmax(QK^T)V in the encoder and SDPA's math kernel in the decoder.
            channels_last: Feed the patch-embedding convolution channels-last views.
        """
        self.fused_attention, self.channels_last = fused_attention, channels_last
        for block in self.encoder.blocks:
            if hasattr(block.attn, "fused_attn"):
                block.attn.fused_attn = fused_attention

    @property
    def num_patches(self) -> int:
        """Patches per view (196 for 224 px, patch 16)."""
        return self.grid[0] * self.grid[1]

    def _init_weights(self) -> None:
        """MAE initialisation.

        Xavier-uniform linears (the patch embedding as a linear), zero biases, unit
        LayerNorms, N(0, 0.02) CLS and mask tokens.
        """
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.LayerNorm):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.MultiheadAttention):
                nn.init.xavier_uniform_(module.in_proj_weight)
                nn.init.zeros_(module.in_proj_bias)
        proj = self.encoder.patch_embed.proj
        nn.init.xavier_uniform_(proj.weight.view(proj.weight.shape[0], -1))
        if proj.bias is not None:
            nn.init.zeros_(proj.bias)
        nn.init.normal_(self.encoder.cls_token, std=0.02)
        nn.init.normal_(self.mask_token, std=0.02)

    def encode(self, images: torch.Tensor, noise: torch.Tensor | None = None,
               mask: bool = False) -> tuple[torch.Tensor, MaskedTokens | None]:
        """Run the shared encoder on whole or masked views.

        Args:
            images: (N, 3, H, W) normalised views.
            noise: (N, L) masking noise (only with ``mask``); drawn here if None.
            mask: Drop ``mask_ratio`` of the patches before the transformer blocks.

        Returns:
            tokens (N, 1 + K, D) after the final norm (CLS first; K = L unmasked) and the
            masking record (None without masking).
        """
        enc = self.encoder
        if self.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        x = enc.patch_embed(images)  # (N, L, D)
        pos = enc.pos_embed  # (1, 1 + L, D)
        x = x + pos[:, 1:, :]
        masked = None
        if mask:
            masked = random_masking(x, self.mask_ratio, noise)
            x = masked.visible  # (N, K, D)
        cls = (enc.cls_token + pos[:, :1, :]).expand(x.shape[0], -1, -1)
        x = torch.cat([cls, x], dim=1)
        x = enc.norm_pre(x)
        x = enc.blocks(x)
        return enc.norm(x), masked

    def decode(self, memory: torch.Tensor, latent: torch.Tensor,
               ids_restore: torch.Tensor) -> torch.Tensor:
        """Predict every patch of view 2.

        Args:
            memory: (N, 1 + L, D) encoded view 1.
            latent: (N, 1 + K, D) encoded visible tokens of view 2.
            ids_restore: (N, L) from the masking.

        Returns:
            (N, L, p * p * 3) predicted patches.
        """
        memory = self.decoder_embed(memory)  # (N, 1 + L, d)
        latent = self.decoder_embed(latent)  # (N, 1 + K, d)
        n, length = ids_restore.shape
        tokens = torch.cat(
            [latent[:, 1:], self.mask_token.expand(n, length + 1 - latent.shape[1], -1)], dim=1
        )  # (N, L, d) visible first, then mask tokens
        index = ids_restore.unsqueeze(-1).expand(-1, -1, tokens.shape[-1])
        tokens = torch.gather(tokens, 1, index)  # (N, L, d) in patch order
        x = torch.cat([latent[:, :1], tokens], dim=1) + self.decoder_pos_embed.to(latent.dtype)
        for block in self.decoder_blocks:
            x = block(x, memory)
        x = self.decoder_pred(self.decoder_norm(x))
        return x[:, 1:]  # drop CLS

    def loss(self, view2: torch.Tensor, pred: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Mean squared error over the masked patches of view 2 (float32).

        Args:
            view2: (N, 3, H, W) the normalised target view.
            pred: (N, L, p * p * 3) predictions.
            mask: (N, L) 1 on masked patches.
        """
        target = patchify(view2.float(), self.patch_size)
        if self.norm_pix_loss:
            target = normalize_patches(target)
        per_patch = F.mse_loss(pred.float(), target, reduction="none").mean(dim=-1)  # (N, L)
        mask = mask.float()
        return (per_patch * mask).sum() / mask.sum()

    def forward(self, view1: torch.Tensor, view2: torch.Tensor,
                noise: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Reconstruct masked view 2 from view 1.

        Args:
            view1: (N, 3, H, W) normalised unmasked views.
            view2: (N, 3, H, W) normalised views to mask.
            noise: (N, L) masking noise; random if None.

        Returns:
            ``loss`` (scalar), ``pred`` (N, L, p*p*3) and ``mask`` (N, L).
        """
        kernels = contextlib.nullcontext()
        if not self.fused_attention:
            from torch.nn.attention import SDPBackend, sdpa_kernel

            kernels = sdpa_kernel(SDPBackend.MATH)
        with kernels:
            memory, _ = self.encode(view1)
            latent, masked = self.encode(view2, noise, mask=True)
            pred = self.decode(memory, latent, masked.ids_restore)
        return {"loss": self.loss(view2, pred, masked.mask), "pred": pred, "mask": masked.mask}
