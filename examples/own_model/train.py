"""Train the spirals classifier and save one checkpoint per epoch, in *your* format.

This stands for your own training script: it knows nothing of losstopo. It writes
``epoch_000.pt`` (the initialisation) to ``epoch_NNN.pt`` into ``--out``, each a plain dict
saved with :func:`torch.save`::

    {"state_dict": ..., "epoch": e, "seed": s, "train_accuracy": acc,
     "hidden": h, "n_per_class": n, "data_seed": d}

``objective.py`` turns such a file into the loss that losstopo analyses, and ``config.yaml``
points the workflow at these files. An "epoch" here is one call of full-batch L-BFGS with
``--iterations-per-epoch`` iterations (its curvature history carries over between epochs), so
the checkpoints trace the model from random weights to a trained minimum.

    python examples/own_model/train.py            # -> results/own_model/checkpoints/
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import torch
import torch.nn.functional as F

# run as a script, Python puts this folder first on sys.path: spirals.py is importable
from spirals import DATA_SEED, HIDDEN, N_PER_CLASS, accuracy, make_model, spirals


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
    epochs: int = 4,
    iterations_per_epoch: int = 25,
    seed: int = 0,
    n_per_class: int = N_PER_CLASS,
    hidden: int = HIDDEN,
) -> list[dict[str, float]]:
    """Train with full-batch L-BFGS and write ``epoch_000.pt`` … ``epoch_{epochs:03d}.pt``.

    Returns the loss and training accuracy per saved epoch. Deterministic: the weights come
    from ``torch.manual_seed(seed)``, the data from ``data_seed``, and L-BFGS has no noise.
    """
    if epochs < 1 or iterations_per_epoch < 1:
        raise ValueError("--epochs and --iterations-per-epoch must be >= 1")
    torch.manual_seed(seed)
    inputs, targets = spirals(n_per_class, DATA_SEED)
    model = make_model(hidden)
    optimizer = torch.optim.LBFGS(
        model.parameters(),
        lr=1.0,
        max_iter=iterations_per_epoch,
        history_size=50,
        line_search_fn="strong_wolfe",
    )

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = F.cross_entropy(model(inputs), targets)
        loss.backward()
        return loss

    out.mkdir(parents=True, exist_ok=True)
    history = []
    for epoch in range(epochs + 1):
        if epoch > 0:
            optimizer.step(closure)
        with torch.no_grad():
            loss = float(F.cross_entropy(model(inputs), targets))
        train_accuracy = accuracy(model, inputs, targets)
        payload = {
            "state_dict": model.state_dict(),
            "epoch": epoch,
            "seed": seed,
            "train_accuracy": train_accuracy,
            "hidden": hidden,
            "n_per_class": n_per_class,
            "data_seed": DATA_SEED,
        }
        save_atomic(payload, out / f"epoch_{epoch:03d}.pt")
        history.append({"epoch": epoch, "loss": loss, "train_accuracy": train_accuracy})
    return history


def main(argv: list[str] | None = None) -> list[dict[str, float]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("results/own_model/checkpoints"),
        help="checkpoint folder (default: results/own_model/checkpoints)",
    )
    parser.add_argument("--epochs", type=int, default=4, help="epochs after epoch 0 (default: 4)")
    parser.add_argument(
        "--iterations-per-epoch",
        type=int,
        default=25,
        help="L-BFGS iterations per epoch (default: 25)",
    )
    parser.add_argument("--seed", type=int, default=0, help="weight seed (default: 0)")
    parser.add_argument(
        "--n-per-class",
        type=int,
        default=N_PER_CLASS,
        help=f"training points per class (default: {N_PER_CLASS})",
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # small matrices: one thread is fastest and reproducible
    start = time.perf_counter()
    history = train(args.out, args.epochs, args.iterations_per_epoch, args.seed, args.n_per_class)
    for row in history:
        print(
            f"epoch {row['epoch']:3d}: loss {row['loss']:.4f}, "
            f"training accuracy {row['train_accuracy']:.3f}"
        )
    print(f"{len(history)} checkpoints in {args.out} ({time.perf_counter() - start:.1f} s)")
    return history


if __name__ == "__main__":
    main()
