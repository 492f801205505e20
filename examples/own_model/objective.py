"""The objective factory: how losstopo turns one of *your* checkpoints into a loss.

losstopo cannot know your checkpoint format, model class or data, so you tell it with a
function that it calls once per checkpoint::

    losstopo hessian results/own_model/checkpoints/epoch_004.pt --top-k 2 \\
        --objective examples/own_model/objective.py:make_objective --out hessian.nc

The function receives the checkpoint's path and the device and dtype the analysis runs in,
and returns a :class:`losstopo.Objective`: the training loss on a fixed batch as a function of
the weights, with the trained weights as its point θ. Everything downstream (Hessian
eigenvectors, landscapes, merge trees, profiles) only ever sees that objective. Numbers in
``objective.metadata["metrics"]`` are recorded in every output and become table columns, as do
the fields in ``objective.metadata["fields"]`` that identify the checkpoint (here its epoch).

Loading the factory imports this file, so ``spirals.py`` next to it is importable.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from spirals import DATA_SEED, HIDDEN, N_PER_CLASS, TEST_SEED, accuracy, make_model, spirals

import losstopo


def make_objective(
    checkpoint: Path, *, device: torch.device, dtype: torch.dtype
) -> losstopo.Objective:
    """The full-batch training cross-entropy of the classifier saved in ``checkpoint``.

    The model is rebuilt with the architecture and the training data the checkpoint records,
    so the landscape is that of the loss the model was trained on; model and data are moved
    to ``device`` and ``dtype`` (losstopo computes Hessians in float64, and may sample
    landscapes in float32). The metrics are the training accuracy and the accuracy on a
    held-out draw of the spirals: how well each checkpoint generalises, next to its topology.
    """
    # weights_only: a checkpoint is data, unpickling it must not run code
    saved = torch.load(checkpoint, map_location="cpu", weights_only=True)
    n_per_class = int(saved.get("n_per_class", N_PER_CLASS))
    model = make_model(int(saved.get("hidden", HIDDEN)))
    model.load_state_dict(saved["state_dict"])
    model = model.to(device=device, dtype=dtype)

    def on_device(batch: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        inputs, targets = batch
        return inputs.to(device=device, dtype=dtype), targets.to(device)

    train = on_device(spirals(n_per_class, int(saved.get("data_seed", DATA_SEED))))
    test = on_device(spirals(n_per_class, TEST_SEED))
    objective = losstopo.Objective.from_module(
        model,
        F.cross_entropy,
        train,
        description=f"spirals MLP cross-entropy on {len(train[0])} training points "
        f"({checkpoint.name})",
    )
    objective.metadata["metrics"] = {
        "test_accuracy": accuracy(model, *test),
        "train_accuracy": accuracy(model, *train),
    }
    # what identifies the checkpoint in tables (rows are ordered by it)
    objective.metadata["fields"] = {"epoch": int(saved["epoch"])}
    return objective
