"""The rates that probes measure and costs use."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Rate:
    """Seconds per unit of a kind of work, and the fixed seconds of a call besides its units
    and its process start-up."""

    per_unit: float
    fixed: float = 0.0


@dataclass(frozen=True)
class UNetRate:
    """Seconds per image of UNet-CRF training (forward, backward and AdamW step) and of
    evaluation (forward), at the run's batch size."""

    per_train_image: float
    per_eval_image: float
