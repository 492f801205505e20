"""One UNet-CRF training run on disk, resumable after an interruption.

Layout of a run directory::

    checkpoints/epoch_000.pt … epoch_EEE.pt   weights before training and after each epoch
    metrics.csv                              one row per epoch (0 = before training)
    run.json                                 hyper-parameters, seed, data and provenance
    .progress/epoch_EEE.pt, .progress/state.pt

Checkpoints are first written under ``.progress/`` together with the optimiser and
scheduler state of the latest epoch, then published to ``checkpoints/`` as hard links (a copy
where links are impossible). A workflow manager may delete the published files of a failed
job; the progress folder survives, so a re-run continues from the last finished epoch and
gives the same weights as an uninterrupted run.
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from losstopo.io.atomic import atomic_path, write_atomic, write_json_atomic
from losstopo.io.checkpoint import save_checkpoint
from losstopo.io.provenance import base_provenance
from losstopo.problems.segmentation.config import UNetConfig, build_model
from losstopo.problems.segmentation.metrics import confusion_matrix, pixel_loss, scores
from losstopo.runtime import device_name, progress_bar, seed_everything

log = logging.getLogger("losstopo")

METRIC_COLUMNS = ["epoch", "train_loss", "test_loss", "test_pixel_accuracy", "test_miou"]


def checkpoint_name(epoch: int) -> str:
    return f"epoch_{epoch:03d}.pt"


@dataclass
class PetsData:
    """Training and test images in memory (uint8) plus what was skipped while reading."""

    train: Any  # losstopo.problems.segmentation.pets.PetsSplit
    test: Any

    @property
    def synthetic(self) -> bool:
        return bool(self.train.synthetic)


def load_data(config: UNetConfig) -> PetsData:
    from losstopo.problems.segmentation.pets import load_pets

    root = Path(config.data_dir)
    train = load_pets(root, "trainval", config.image_size, config.limit_trainval or None)
    test = load_pets(root, "test", config.image_size, config.limit_test or None)
    return PetsData(train, test)


def epoch_order(n: int, seed: int, epoch: int) -> np.ndarray:
    """The shuffle of epoch ``epoch``: a function of (seed, epoch) only, so a resumed run
    sees exactly the batches an uninterrupted one would."""
    return np.random.default_rng([seed, epoch]).permutation(n)


@torch.no_grad()
def evaluate(
    model: nn.Module, split: Any, batch_size: int, device: torch.device, dtype: torch.dtype
) -> dict[str, float]:
    """Mean pixel cross-entropy, pixel accuracy and mean IoU over a whole split (eval mode)."""
    model.eval()
    total_loss = 0.0
    pixels = 0
    confusion = np.zeros((3, 3), dtype=np.int64)
    for start in range(0, len(split.names), batch_size):
        index = torch.arange(start, min(start + batch_size, len(split.names)))
        images = split.network_inputs(index, device, dtype)
        masks = split.masks[index].long().to(device)
        logits = model(images)
        total_loss += float(pixel_loss(logits, masks)) * masks.numel()
        pixels += masks.numel()
        confusion += confusion_matrix(logits, masks)
    return {"loss": total_loss / pixels, **scores(confusion)}


def train_epoch(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    split: Any,
    config: UNetConfig,
    seed: int,
    epoch: int,
    device: torch.device,
    dtype: torch.dtype,
) -> float:
    """One pass over the shuffled training set; returns the pixel-weighted mean batch loss."""
    model.train()
    order = torch.as_tensor(epoch_order(len(split.names), seed, epoch))
    total, pixels = 0.0, 0
    bar = progress_bar(len(order), f"epoch {epoch}")
    for start in range(0, len(order), config.batch_size):
        index = order[start : start + config.batch_size]
        images = split.network_inputs(index, device, dtype)
        masks = split.masks[index].long().to(device)
        optimizer.zero_grad(set_to_none=True)
        loss = pixel_loss(model(images), masks)
        loss.backward()
        optimizer.step()
        total += float(loss.detach()) * masks.numel()
        pixels += masks.numel()
        bar.update(len(index))
    bar.close()
    return total / pixels


def _publish(source: Path, target: Path) -> None:
    """Make ``target`` the same file as ``source`` (hard link, else copy), atomically."""
    with atomic_path(target) as tmp:
        tmp.unlink()
        try:
            os.link(source, tmp)
        except OSError:
            shutil.copy2(source, tmp)


def _write_metrics(rows: list[dict[str, float]], path: Path) -> None:
    frame = pd.DataFrame(rows, columns=[*METRIC_COLUMNS, *_extra_columns(rows)])
    # NaN is written as "nan" (pandas' default is an empty cell, which hides a divergence)
    write_atomic(
        path, lambda tmp: frame.to_csv(tmp, index=False, float_format="%.10g", na_rep="nan")
    )


def _extra_columns(rows: list[dict[str, float]]) -> list[str]:
    return [k for k in (rows[0] if rows else {}) if k not in METRIC_COLUMNS]


def _resume_point(progress: Path, config: UNetConfig, seed: int) -> dict[str, Any] | None:
    """The saved training state, if it belongs to this exact run; else None (fresh start)."""
    state_path = progress / "state.pt"
    if not state_path.is_file():
        return None
    try:
        state = torch.load(state_path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated by a full disk or a hard stop: unusable, not fatal
        log.warning(
            "%s is unreadable (%s: %s); discarding it and starting from scratch",
            state_path,
            type(exc).__name__,
            str(exc).splitlines()[0] if str(exc) else "",
        )
        return None
    if not isinstance(state, dict):
        log.warning("%s is not a training state; starting from scratch", state_path)
        return None
    if state.get("hparams") != config.hparams() or state.get("seed") != seed:
        log.warning("%s belongs to a different run; starting from scratch", state_path)
        return None
    missing = [
        e for e in range(state["epoch"] + 1) if not (progress / checkpoint_name(e)).is_file()
    ]
    if missing:
        log.warning("%s lacks epochs %s; starting from scratch", progress, missing)
        return None
    return state


def train_unet_run(
    config: UNetConfig,
    seed: int,
    out: Path,
    device: torch.device,
    dtype: torch.dtype = torch.float32,
    threads: int = 1,
    stop_after: int | None = None,
) -> pd.DataFrame:
    """Train (or resume) one (lr, seed) run, writing every checkpoint and ``metrics.csv``.

    ``stop_after`` ends the process after that many epochs of this call, as an interruption
    would (used to test resuming).
    """
    data = load_data(config)
    progress = out / ".progress"
    progress.mkdir(parents=True, exist_ok=True)
    (out / "checkpoints").mkdir(parents=True, exist_ok=True)
    provenance = {
        **base_provenance(),
        "threads": threads,
        "device": device_name(device),
        "dtype": str(dtype).removeprefix("torch."),
        "synthetic_data": data.synthetic,
        "n_trainval": len(data.train.names),
        "n_test": len(data.test.names),
        "skipped_trainval": len(data.train.skipped),
        "skipped_test": len(data.test.skipped),
    }

    write_json_atomic(
        out / "run.json",
        {"problem": "segmentation", **config.hparams(), "seed": seed, **provenance},
    )

    seed_everything(seed)
    model = build_model(config).to(device=device, dtype=dtype)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=config.lr, weight_decay=config.weight_decay
    )
    scheduler = torch.optim.lr_scheduler.StepLR(
        optimizer, step_size=config.step_size, gamma=config.gamma
    )
    state = _resume_point(progress, config, seed)
    if state is None:
        test = evaluate(model, data.test, config.batch_size, device, dtype)
        train = evaluate(model, data.train, config.batch_size, device, dtype)
        rows = [_row(0, train["loss"], test, 0.0)]
        _save_epoch(progress, out, model, config, seed, 0, rows, provenance)
        first = 1
    else:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        rows = [dict(row) for row in state["rows"]]
        first = int(state["epoch"]) + 1
        log.info("resuming %s after epoch %d", out, first - 1)

    done = 0
    for epoch in range(first, config.epochs + 1):
        if stop_after is not None and done >= stop_after:
            return pd.DataFrame(rows)
        start = time.perf_counter()
        train_loss = train_epoch(model, optimizer, data.train, config, seed, epoch, device, dtype)
        scheduler.step()
        test = evaluate(model, data.test, config.batch_size, device, dtype)
        seconds = time.perf_counter() - start
        rows.append(_row(epoch, train_loss, test, seconds, bool(rows[-1].get("diverged"))))
        _save_epoch(progress, out, model, config, seed, epoch, rows, provenance)
        write_atomic(
            progress / "state.pt",
            lambda tmp, epoch=epoch: torch.save(
                {
                    "hparams": config.hparams(),
                    "seed": seed,
                    "epoch": epoch,
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(),
                    "rows": rows,
                },
                tmp,
            ),
        )
        log.info(
            "epoch %d: train loss %.4f, test loss %.4f, pixel accuracy %.4f, mIoU %.4f",
            epoch,
            train_loss,
            test["loss"],
            test["pixel_accuracy"],
            test["miou"],
        )
        done += 1

    for epoch in range(config.epochs + 1):  # re-publish what a workflow manager removed
        target = out / "checkpoints" / checkpoint_name(epoch)
        if not target.is_file():
            _publish(progress / checkpoint_name(epoch), target)
    _write_metrics(rows, out / "metrics.csv")
    return pd.DataFrame(rows)


def _row(
    epoch: int,
    train_loss: float,
    test: dict[str, float],
    seconds: float,
    diverged_before: bool = False,
) -> dict:
    """One epoch's metrics. A non-finite loss marks the run diverged from then on; the
    accuracy of a diverged network (NaN logits) is NaN, not the score of an arbitrary argmax."""
    diverged = bool(
        diverged_before or not (math.isfinite(train_loss) and math.isfinite(test["loss"]))
    )
    nan = float("nan")
    return {
        "epoch": epoch,
        "train_loss": train_loss,
        "test_loss": test["loss"],
        "test_pixel_accuracy": nan if diverged else test["pixel_accuracy"],
        "test_miou": nan if diverged else test["miou"],
        "seconds": seconds,
        "diverged": diverged,
    }


def _save_epoch(
    progress: Path,
    out: Path,
    model: nn.Module,
    config: UNetConfig,
    seed: int,
    epoch: int,
    rows: list[dict[str, float]],
    provenance: dict[str, Any],
) -> None:
    """Write the epoch's checkpoint under ``.progress`` and publish it and the metrics."""
    checkpoint = {
        "problem": "segmentation",
        "hparams": config.hparams(),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "metrics": {k: float(v) for k, v in rows[-1].items()},
        "epoch": epoch,
        "seed": seed,
        "device": provenance["device"],
        "provenance": provenance,
    }
    save_checkpoint(progress / checkpoint_name(epoch), checkpoint)
    _publish(progress / checkpoint_name(epoch), out / "checkpoints" / checkpoint_name(epoch))
    _write_metrics(rows, out / "metrics.csv")
