"""Train the sorting transformer and save one checkpoint per epoch, in *your* format.

This stands for your own training script: it knows nothing of losstopo. It writes
``epoch_000.pt`` (the initialisation) to ``epoch_NNN.pt`` into ``--out``, each a plain dict
saved with :func:`torch.save`::

    {"state_dict": ..., "epoch": e, "seed": s, "train_loss": l,
     "settings": {"task": {...}, "architecture": {...}}}

An epoch is one pass of Adam over the training sequences in shuffled minibatches, with
dropout on; ``objective.py`` turns a checkpoint into the held-out loss (dropout off) that
losstopo analyses, and ``config.yaml`` points the workflow at these files.

    python examples/transformer/train.py          # -> results/transformer/checkpoints/
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import time
from pathlib import Path

import torch

# run as a script, Python puts this folder first on sys.path: sequences.py is importable
from sequences import (
    Architecture,
    Task,
    accuracy,
    make_model,
    settings,
    sorting_data,
    token_loss,
)


def save_atomic(payload: dict, path: Path) -> None:
    """``torch.save`` to a temporary file in the same folder, then rename it: an interrupted
    run never leaves a truncated checkpoint that the workflow would take for a finished one."""
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        torch.save(payload, tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def train(
    out: Path,
    task: Task,
    architecture: Architecture,
    epochs: int = 4,
    batch_size: int = 100,
    lr: float = 1e-2,
    seed: int = 0,
) -> list[dict[str, float]]:
    """Train with Adam and write ``epoch_000.pt`` … ``epoch_{epochs:03d}.pt``; returns the
    training loss and the held-out accuracy per saved epoch. Deterministic on one thread:
    the weights and the minibatch order come from ``seed``, the data from the task's seeds."""
    torch.manual_seed(seed)
    tokens, targets = sorting_data(task.n_train, task.data_seed, task)
    held_out = sorting_data(task.n_held_out, task.held_out_seed, task)
    model = make_model(task, architecture)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    order = torch.Generator().manual_seed(seed)
    out.mkdir(parents=True, exist_ok=True)
    history = []
    for epoch in range(epochs + 1):
        model.train()
        losses = []
        if epoch > 0:
            for batch in torch.randperm(task.n_train, generator=order).split(batch_size):
                optimizer.zero_grad()
                loss = token_loss(model(tokens[batch]), targets[batch])
                loss.backward()
                optimizer.step()
                losses.append(float(loss.detach()))
        train_loss = sum(losses) / len(losses) if losses else float("nan")
        payload = {
            "state_dict": model.state_dict(),
            "epoch": epoch,
            "seed": seed,
            "train_loss": train_loss,
            "settings": settings(task, architecture),
        }
        save_atomic(payload, out / f"epoch_{epoch:03d}.pt")
        history.append(
            {
                "epoch": epoch,
                "train_loss": train_loss,
                "held_out_accuracy": accuracy(model, *held_out),
            }
        )
    return history


def _options(parser: argparse.ArgumentParser, record: type, title: str) -> None:
    """One option per field of a settings record (its default in the help)."""
    group = parser.add_argument_group(title)
    for field in dataclasses.fields(record):
        flag = "--" + field.name.replace("_", "-")
        group.add_argument(
            flag,
            type=type(field.default),
            default=field.default,
            help=f"(default: {field.default})",
        )


def _problem(args: argparse.Namespace) -> str | None:
    """What is wrong with the options, as one line naming the option and value; or None."""
    at_least = {"epochs": 1, "batch_size": 1, "seed": 0, "data_seed": 0, "held_out_seed": 0}
    at_least |= {"vocab": 2, "length": 1, "n_train": 1, "n_held_out": 1}
    at_least |= {"d_model": 1, "heads": 1, "feedforward": 1, "layers": 1}
    for name, lowest in at_least.items():
        if getattr(args, name) < lowest:
            return f"--{name.replace('_', '-')} must be >= {lowest}, got {getattr(args, name)}"
    if not (math.isfinite(args.lr) and args.lr > 0):
        return f"--lr must be a finite number > 0, got {args.lr}"
    if not (math.isfinite(args.dropout) and 0 <= args.dropout < 1):
        return f"--dropout must be a finite number in [0, 1), got {args.dropout}"
    if args.d_model % args.heads:
        return f"--d-model {args.d_model} must be a multiple of --heads {args.heads}"
    return None


def main(argv: list[str] | None = None) -> list[dict[str, float]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("results/transformer/checkpoints"),
        help="checkpoint folder (default: results/transformer/checkpoints)",
    )
    parser.add_argument("--epochs", type=int, default=4, help="epochs after epoch 0 (default: 4)")
    parser.add_argument("--batch-size", type=int, default=100, help="(default: 100)")
    parser.add_argument("--lr", type=float, default=1e-2, help="Adam's step size (default: 0.01)")
    parser.add_argument("--seed", type=int, default=0, help="weights and batch order (default: 0)")
    _options(parser, Task, "data")
    _options(parser, Architecture, "model")
    args = parser.parse_args(argv)
    problem = _problem(args)
    if problem:
        parser.error(problem)
    values = vars(args)
    task = Task(**{f.name: values[f.name] for f in dataclasses.fields(Task)})
    architecture = Architecture(
        **{f.name: values[f.name] for f in dataclasses.fields(Architecture)}
    )
    torch.set_num_threads(1)  # small matrices: one thread is fastest and reproducible
    start = time.perf_counter()
    history = train(args.out, task, architecture, args.epochs, args.batch_size, args.lr, args.seed)
    for row in history:
        print(
            f"epoch {row['epoch']:3d}: training loss {row['train_loss']:.4f}, "
            f"held-out accuracy {row['held_out_accuracy']:.3f}"
        )
    print(f"{len(history)} checkpoints in {args.out} ({time.perf_counter() - start:.1f} s)")
    return history


if __name__ == "__main__":
    main()
