"""Channels-last activations for a conv net's direct (un-batched) calls on a CPU.

A model evaluated at one point per call (a conv net on a batch of images fills the cache
budget with one evaluation) runs in its own memory format, usually NCHW. On a CPU that
layout is slow twice over: oneDNN's NCHW convolutions with few channels and PyTorch's
NCHW ``max_pool2d`` (about 3 ns an element, against a fraction of that on channels-last
maps) take most of the time of a small CNN. Giving every ``nn.Conv2d`` a channels-last
input makes its output channels-last, and element-wise ops, pooling and BatchNorm keep
that layout, so the whole net runs channels-last from the first convolution on. The
memory format changes strides only, never values beyond float rounding order.

Model code that assumes NCHW strides (``x.view(n, -1)`` after a convolution) raises on
channels-last maps; the first call detects that and runs the model as it is from then on.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn


def channels_last(x: Any) -> Any:
    """A 4-D tensor in channels-last strides (a view for one channel, whose strides alone
    say the layout; a copy otherwise); anything else unchanged."""
    if not isinstance(x, torch.Tensor) or x.dim() != 4:
        return x
    if x.is_contiguous(memory_format=torch.channels_last) and x.stride(1) == 1:
        return x
    _, c, h, w = x.shape
    if c == 1 and x.is_contiguous():
        return x.as_strided(x.shape, (h * w, 1, w, 1), x.storage_offset())
    return x.contiguous(memory_format=torch.channels_last)


def _channels_last_inputs(_module: nn.Module, args: tuple) -> tuple:
    return tuple(channels_last(a) for a in args)


class ChannelsLastCalls:
    """Runs functions of ``model`` with channels-last inputs to its 2-D convolutions (on a
    CPU; elsewhere, or for a model without ``nn.Conv2d``, functions run unchanged)."""

    def __init__(self, model: nn.Module, device: torch.device):
        self.convolutions = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
        self.enabled = device.type == "cpu" and bool(self.convolutions)
        self._checked = False

    def __call__(self, fn: Callable[..., Any], *args: Any) -> Any:
        if not self.enabled:
            return fn(*args)
        handles = [m.register_forward_pre_hook(_channels_last_inputs) for m in self.convolutions]
        try:
            out = fn(*args)
        except RuntimeError:
            if self._checked:
                raise
            self.enabled = False  # NCHW-only model code (e.g. ``view``): run it as it is
        else:
            self._checked = True
            return out
        finally:
            for handle in handles:
                handle.remove()
        return fn(*args)
