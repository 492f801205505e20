"""The data and the model of the transformer example: sort a sequence of random tokens.

Each example is a sequence of ``length`` tokens drawn uniformly from ``vocab`` symbols; the
target at position i is the i-th smallest token of the sequence, so every output position
has to compare its query with the whole input, which is what attention does. The model is a
small ``nn.TransformerEncoder`` (token embedding, fixed sinusoidal positional encoding,
multi-head self-attention, LayerNorm, dropout) with a linear read-out per position.

Both the training script and the objective factory import this module, so the network that
``losstopo`` analyses is rebuilt exactly as it was trained, on the same data. It is
self-contained (no losstopo import): copy the folder as the start of your own models.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel


@dataclass(frozen=True)
class Task:
    """The data: how many sequences, how long, over how many symbols, from which seeds."""

    vocab: int = 10
    length: int = 8
    n_train: int = 4000
    n_held_out: int = 500
    data_seed: int = 0
    held_out_seed: int = 1  # another draw of the same distribution: the analysed loss


@dataclass(frozen=True)
class Architecture:
    """The encoder's sizes; the checkpoints record them so the factory rebuilds the model."""

    d_model: int = 16
    heads: int = 2
    feedforward: int = 32
    layers: int = 2
    dropout: float = 0.1


def sorting_data(n: int, seed: int, task: Task) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` random token sequences (int64, ``n × length``) and their sorted versions."""
    generator = torch.Generator().manual_seed(seed)
    tokens = torch.randint(0, task.vocab, (n, task.length), generator=generator)
    return tokens, tokens.sort(dim=1).values


@contextlib.contextmanager
def differentiable_attention() -> Iterator[None]:
    """Attention that ``torch.func`` can differentiate twice and batch.

    On the CPU, ``scaled_dot_product_attention`` picks a fused flash kernel with no
    derivative of its backward (so no Hessian-vector product in any mode) and no ``vmap``
    batching rule; an eval-mode ``TransformerEncoderLayer`` without gradients takes the fused
    ``_transformer_encoder_layer_fwd`` fast path, which has no batching rule either (``vmap``
    then loops over the points, one by one). The math kernel of plain tensor operations has
    both, and with the fast path off, training, Hessians and landscapes all evaluate the
    same operations.
    """
    fast_path = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        with sdpa_kernel(SDPBackend.MATH):
            yield
    finally:
        torch.backends.mha.set_fastpath_enabled(fast_path)


class PositionalEncoding(nn.Module):
    """Fixed sinusoidal position codes (Vaswani et al. 2017), a buffer: not a parameter,
    so the landscapes do not move it."""

    def __init__(self, d_model: int, length: int):
        super().__init__()
        position = torch.arange(length, dtype=torch.float32)[:, None]
        frequency = torch.exp(torch.arange(0, d_model, 2) * (-math.log(10_000.0) / d_model))
        codes = torch.zeros(length, d_model)
        codes[:, 0::2] = torch.sin(position * frequency)
        codes[:, 1::2] = torch.cos(position * frequency)
        self.register_buffer("codes", codes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.codes[: x.shape[-2]]


class SortingTransformer(nn.Module):
    """Tokens → embedding + positions → encoder → logits over the vocabulary per position."""

    def __init__(self, task: Task, architecture: Architecture):
        super().__init__()
        a = architecture
        self.embedding = nn.Embedding(task.vocab, a.d_model)
        self.positions = PositionalEncoding(a.d_model, task.length)
        self.dropout = nn.Dropout(a.dropout)
        layer = nn.TransformerEncoderLayer(
            a.d_model, a.heads, a.feedforward, dropout=a.dropout, batch_first=True
        )
        # no padding mask, so the nested-tensor path never applies: off, and said so
        self.encoder = nn.TransformerEncoder(layer, a.layers, enable_nested_tensor=False)
        self.readout = nn.Linear(a.d_model, task.vocab)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        with differentiable_attention():
            x = self.dropout(self.positions(self.embedding(tokens)))
            return self.readout(self.encoder(x))


def make_model(task: Task, architecture: Architecture) -> SortingTransformer:
    """The model in float32; its weights come from torch's global generator (seed it)."""
    return SortingTransformer(task, architecture)


def token_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Cross-entropy averaged over every position of every sequence of the batch: with
    sequences of one length, the batch means weighted by batch size are the dataset's."""
    return F.cross_entropy(logits.flatten(0, 1), targets.flatten())


def accuracy(model: nn.Module, tokens: torch.Tensor, targets: torch.Tensor) -> float:
    """Fraction of output positions whose most likely token is the target (eval mode)."""
    was_training = model.training
    model.eval()
    with torch.no_grad():
        correct = (model(tokens).argmax(dim=-1) == targets).double().mean()
    model.train(was_training)
    return float(correct)


def settings(task: Task, architecture: Architecture) -> dict[str, dict]:
    """What a checkpoint records to rebuild the model and its data."""
    return {"task": asdict(task), "architecture": asdict(architecture)}
