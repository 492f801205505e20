"""UNet with a mean-field CRF head for pet segmentation (Geniesse et al. 2024, §4.2).

Only out-of-place operations, no ``.item()`` and no data-dependent control flow appear in
``forward``, so the network can be analysed through ``torch.func`` (``functional_call``,
``jvp`` of ``grad``, ``vmap`` over stacked parameter sets). In eval mode BatchNorm uses its
running statistics; for batch statistics under ``vmap`` apply
``torch.func.replace_all_batch_norm_modules_`` first.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from losstopo.problems.segmentation.crf import CRFConfig, MeanFieldCRF

# Hyper-parameters understood by build_unet, with their defaults (the paper configuration:
# 16 base channels, 5 resolution levels, a 5-step spatial CRF).
UNET_DEFAULTS: dict[str, Any] = {
    "in_channels": 3,  # image channels
    "n_classes": 3,  # trimap classes: pet, background, border
    "width": 16,  # channels of the first level; level i has width·2^i
    "depth": 5,  # resolution levels including the bottleneck
    "crf_iterations": 5,  # mean-field steps; 0 means no CRF layer
    "crf_taps": 11,  # odd length of the 1-D spatial Gaussian
    "crf_init_sigma": 2.0,  # initial spatial width (pixels)
    "crf_init_weight": 1.0,  # initial spatial Potts weight
    "crf_bilateral": False,  # add the local-window appearance term
    "crf_window": 5,  # odd side of the bilateral window
    "crf_init_theta_color": 0.5,  # initial appearance width (input image units)
    "crf_init_bilateral_weight": 1.0,  # initial bilateral Potts weight
}


class ConcatConv2d(nn.Conv2d):
    """A 3×3 convolution (padding 1) that may take its input as two channel groups: on
    ``(first, second)`` it is the convolution of ``cat([first, second])`` along channels,
    computed as two convolutions summed (the same sum in another order), so the
    concatenation is never built; on channels-last maps it is a strided copy as slow as a
    convolution of the decoder's finest level. Parameters and their names are those of
    ``nn.Conv2d``, and it is called as a module either way (forward hooks see its output)."""

    def forward(self, first: torch.Tensor, second: torch.Tensor | None = None) -> torch.Tensor:
        if second is None:
            return super().forward(first)
        split = first.shape[1]
        out = F.conv2d(first, self.weight[:, :split], self.bias, self.stride, self.padding)
        return out + F.conv2d(second, self.weight[:, split:], None, self.stride, self.padding)


class ConvBlock(nn.Module):
    """(conv3×3 → ReLU → BatchNorm) twice, as in the paper's UNet. A decoder block takes
    the upsampled map and the skip as two inputs, which its first convolution reads as one
    concatenation (:class:`ConcatConv2d`)."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.conv1 = ConcatConv2d(in_channels, out_channels, kernel_size=3, padding=1)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, kernel_size=3, padding=1)
        self.bn2 = nn.BatchNorm2d(out_channels)

    def forward(self, x: torch.Tensor, skip: torch.Tensor | None = None) -> torch.Tensor:
        x = self.bn1(F.relu(self.conv1(x, skip)))
        return self.bn2(F.relu(self.conv2(x)))


def upsample_to(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Bilinear ×2; to ``like``'s exact size when the input side was odd at this level.

    The branch depends on static shapes only, never on values.
    """
    up = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
    if up.shape[-2:] != like.shape[-2:]:
        up = F.interpolate(x, size=like.shape[-2:], mode="bilinear", align_corners=False)
    return up


class UNet(nn.Module):
    """Encoder–decoder with skip connections, a 1×1 head and an optional CRF layer.

    Encoder level ``i`` (``0 … depth−1``, the last being the bottleneck) has
    ``width·2^i`` channels and is entered through a 2×2 max-pool (except level 0). Decoder
    level ``i`` upsamples level ``i+1``, concatenates the skip of level ``i`` and applies a
    block to ``width·2^i`` channels. Parameter names (``encoders.<i>…``, ``decoders.<j>…``
    with ``j = 0`` the deepest, ``head``, ``crf``) fix the flat-vector order.
    """

    def __init__(
        self,
        in_channels: int = 3,
        n_classes: int = 3,
        width: int = 16,
        depth: int = 5,
        crf: CRFConfig | None = CRFConfig(),  # noqa: B008 - dataclass default is never mutated
    ):
        super().__init__()
        if depth < 1 or width < 1:
            raise ValueError(f"UNet needs depth ≥ 1 and width ≥ 1, got {depth}, {width}")
        self.depth = depth
        channels = [width * 2**i for i in range(depth)]
        self.encoders = nn.ModuleList(
            ConvBlock(in_channels if i == 0 else channels[i - 1], channels[i]) for i in range(depth)
        )
        self.decoders = nn.ModuleList(
            ConvBlock(channels[i + 1] + channels[i], channels[i])
            for i in reversed(range(depth - 1))
        )
        self.head = nn.Conv2d(channels[0], n_classes, kernel_size=1)
        self.crf = MeanFieldCRF(n_classes, crf) if crf is not None else None

    def unary(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of the 1×1 head, before the CRF."""
        skips = []
        for i, encoder in enumerate(self.encoders):
            if i > 0:
                x = F.max_pool2d(x, kernel_size=2)
            x = encoder(x)
            skips.append(x)
        for decoder, skip in zip(self.decoders, reversed(skips[:-1]), strict=True):
            x = decoder(upsample_to(x, skip), skip)
        return self.head(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        unary = self.unary(x)
        if self.crf is None:
            return unary
        return self.crf(unary, x if self.crf.bilateral else None)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable scalars (the dimension of the loss landscape)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def unet_hparams(**overrides: Any) -> dict[str, Any]:
    """A plain dict of UNet hyper-parameters (defaults updated by ``overrides``).

    Checkpoints store this dict; :func:`build_unet` rebuilds the same architecture.
    """
    unknown = set(overrides) - set(UNET_DEFAULTS)
    if unknown:
        raise ValueError(f"unknown UNet hyper-parameters: {', '.join(sorted(unknown))}")
    return {**UNET_DEFAULTS, **overrides}


def build_unet(hparams: dict[str, Any]) -> UNet:
    """Build a :class:`UNet` from a plain dict; missing keys take :data:`UNET_DEFAULTS`.

    Keys: ``in_channels``, ``n_classes`` (3), ``width`` (16), ``depth`` (5),
    ``crf_iterations`` (5; 0 → no CRF), ``crf_taps`` (11), ``crf_init_sigma`` (2.0),
    ``crf_init_weight`` (1.0), ``crf_bilateral`` (False), ``crf_window`` (5),
    ``crf_init_theta_color`` (0.5), ``crf_init_bilateral_weight`` (1.0). Unknown keys are
    an error, so that a misspelt setting is not silently ignored.
    """
    h = unet_hparams(**hparams)
    crf = None
    if int(h["crf_iterations"]) > 0:
        crf = CRFConfig(
            iterations=int(h["crf_iterations"]),
            taps=int(h["crf_taps"]),
            init_sigma=float(h["crf_init_sigma"]),
            init_weight=float(h["crf_init_weight"]),
            bilateral=bool(h["crf_bilateral"]),
            window=int(h["crf_window"]),
            init_theta_color=float(h["crf_init_theta_color"]),
            init_bilateral_weight=float(h["crf_init_bilateral_weight"]),
        )
    return UNet(
        in_channels=int(h["in_channels"]),
        n_classes=int(h["n_classes"]),
        width=int(h["width"]),
        depth=int(h["depth"]),
        crf=crf,
    )
