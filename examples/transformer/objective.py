"""The objective factory of the transformer example: a checkpoint → its held-out loss.

losstopo calls ``make_objective`` once per checkpoint::

    losstopo hessian results/transformer/checkpoints/epoch_004.pt --top-k 2 \\
        --objective examples/transformer/objective.py:make_objective --out hessian.nc

It rebuilds the model from the settings the checkpoint records and returns
``losstopo.Objective.from_loader``: the mean token cross-entropy over every held-out sequence,
read batch by batch from a data loader (the Hessian-vector products and landscapes sum over
its batches, so the whole set never has to be in memory at once). Dropout is off: the
objective puts the model in eval mode.

Loading the factory imports this file, so ``sequences.py`` next to it is importable.
"""

from __future__ import annotations

from pathlib import Path

import torch
from sequences import Architecture, Task, accuracy, make_model, sorting_data, token_loss
from torch.utils.data import DataLoader, TensorDataset

import losstopo

BATCH_SIZE = 250
"""Held-out sequences per batch of the loader (the default held-out set is two batches)."""


def make_objective(
    checkpoint: Path, *, device: torch.device, dtype: torch.dtype
) -> losstopo.Objective:
    """The held-out token cross-entropy of the sorting transformer saved in ``checkpoint``,
    on ``device`` in ``dtype`` (losstopo takes Hessians in float64), with the held-out and
    training accuracies as metrics and the epoch as the checkpoint's field."""
    # weights_only: a checkpoint is data, unpickling it must not run code
    saved = torch.load(checkpoint, map_location="cpu", weights_only=True)
    if not isinstance(saved, dict) or not {"settings", "state_dict", "epoch"} <= set(saved):
        raise ValueError(f"{checkpoint} is not a checkpoint of examples/transformer/train.py")
    task = Task(**saved["settings"]["task"])
    model = make_model(task, Architecture(**saved["settings"]["architecture"]))
    model.load_state_dict(saved["state_dict"])
    model = model.to(device=device, dtype=dtype)
    held_out = sorting_data(task.n_held_out, task.held_out_seed, task)
    # shuffle=False: the objective reads the same batches on every pass
    loader = DataLoader(TensorDataset(*held_out), batch_size=BATCH_SIZE, shuffle=False)
    objective = losstopo.Objective.from_loader(
        model,
        token_loss,
        loader,
        description=f"sorting transformer token cross-entropy on {task.n_held_out} held-out "
        f"sequences ({checkpoint.name})",
    )
    on_device = [tensor.to(device) for tensor in held_out]
    train = [tensor.to(device) for tensor in sorting_data(task.n_train, task.data_seed, task)]
    objective.metadata["metrics"] = {
        "held_out_accuracy": accuracy(model, *on_device),
        "train_accuracy": accuracy(model, *train),
    }
    # what identifies the checkpoint in tables (rows are ordered by it)
    objective.metadata["fields"] = {"epoch": int(saved["epoch"])}
    return objective
