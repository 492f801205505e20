"""Problem registry: each problem rebuilds its model and objective from a checkpoint.

A new problem is one module that defines a :class:`Problem` and calls :func:`register`;
nothing downstream of training changes.
"""

from __future__ import annotations

from typing import Any, Protocol

import torch
from torch import nn

from losstopo.errors import LosstopoError
from losstopo.objective import Objective


class Problem(Protocol):
    """What a problem module provides to the analysis stages."""

    name: str

    def build_model(self, hparams: dict[str, Any]) -> nn.Module:
        """A fresh (untrained) model with the architecture described by ``hparams``."""
        ...

    def objective(
        self,
        checkpoint: dict[str, Any],
        device: torch.device,
        dtype: torch.dtype,
        **options: Any,
    ) -> Objective:
        """The trained model's loss on the problem's fixed data, as an :class:`Objective`.

        ``options`` are problem-specific choices of that data (e.g. ``bn_mode``); a problem
        rejects options it does not know with a clear error."""
        ...

    table_metrics: tuple[str, ...]
    """Names in the checkpoint's ``metrics`` that the topology tables show (e.g. the test
    error), in column order."""

    def table_fields(self, checkpoint: dict[str, Any]) -> dict[str, Any]:
        """What identifies a checkpoint in tables and figures (e.g. beta, lr, seed), in
        column order; recorded in every output derived from the checkpoint."""
        ...


_REGISTRY: dict[str, Problem] = {}


def register(problem: Problem) -> Problem:
    """Make ``problem`` available by its name (used as the checkpoint's ``problem`` field)."""
    if problem.name in _REGISTRY:
        raise ValueError(f"problem {problem.name!r} registered twice")
    _REGISTRY[problem.name] = problem
    return problem


def get_problem(name: str) -> Problem:
    """Look a problem up by name, with a clear error listing the known ones."""
    try:
        return _REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY)) or "none"
        raise LosstopoError(f"unknown problem {name!r} (known problems: {known})") from None


def problem_names() -> list[str]:
    return sorted(_REGISTRY)


# Registration happens on import of each problem module.
from losstopo.problems import convection as _convection  # noqa: E402, F401
from losstopo.problems import segmentation as _segmentation  # noqa: E402, F401
