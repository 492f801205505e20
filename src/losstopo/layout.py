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
channels-last maps, and code that reads memory order itself (``as_strided``) could change
values: an error switches the layout off, and the first call is checked against the model
as written.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
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


def _channels_last_inputs(_module: nn.Module, args: tuple, kwargs: dict) -> tuple:
    return (
        tuple(channels_last(a) for a in args),
        {k: channels_last(v) for k, v in kwargs.items()},
    )


@contextmanager
def channels_last_convolutions(model: nn.Module) -> Iterator[None]:
    """Inside: every ``nn.Conv2d`` of ``model`` gets its 4-D inputs channels-last."""
    handles = [
        m.register_forward_pre_hook(_channels_last_inputs, with_kwargs=True)
        for m in model.modules()
        if isinstance(m, nn.Conv2d)
    ]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def _agree(a: Any, b: Any) -> bool:
    """Whether two outputs are equal up to rounding order (float32: 1e-3, else 1e-9,
    relative and absolute): a layout that changed the arithmetic differs by far more."""
    if isinstance(a, (tuple, list)):
        return len(a) == len(b) and all(_agree(x, y) for x, y in zip(a, b, strict=True))
    if not isinstance(a, torch.Tensor):
        return a == b
    tol = 1e-3 if a.dtype in (torch.float32, torch.float16, torch.bfloat16) else 1e-9
    return a.shape == b.shape and bool(torch.allclose(a, b, rtol=tol, atol=tol, equal_nan=True))


class ChannelsLastCalls:
    """Runs one function of ``model`` with channels-last inputs to its 2-D convolutions (on
    a CPU; elsewhere, or for a model without ``nn.Conv2d``, it runs unchanged).

    The first call also runs the model as written and keeps the layout only if both agree
    to rounding: model code that reads memory order itself (``as_strided`` with NCHW
    strides) would change values without raising. Any error under the layout switches it
    off and repeats the call as written, so an error is the model's own."""

    def __init__(self, model: nn.Module, device: torch.device):
        self.model = model
        self.convolutions = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
        self.enabled = device.type == "cpu" and bool(self.convolutions)
        self._checked = False

    def __call__(self, fn: Callable[..., Any], *args: Any) -> Any:
        if not self.enabled:
            return fn(*args)
        failed = False
        with channels_last_convolutions(self.model):
            try:
                out = fn(*args)
            except Exception:
                failed = True
        if failed:  # NCHW-only model code (e.g. ``view``): run it as written from now on
            self.enabled = False
            return fn(*args)
        if not self._checked:
            written = fn(*args)
            self._checked = True
            if not _agree(out, written):
                self.enabled = False
                return written
        return out
