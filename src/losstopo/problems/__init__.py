"""Problem registry: each problem rebuilds its model and objective from a checkpoint.

A new problem is one module that defines a :class:`Problem` and calls :func:`register`;
nothing downstream of training changes. Besides the built-in problems, the modules named in
the environment variable ``LOSSTOPO_PROBLEMS`` (``path/to/file.py`` or ``package.module``,
separated by ``os.pathsep``) are imported, so a problem can live outside this package; the
workflow sets it from its ``problem_modules`` config. Importing such a module runs its code.
"""

from __future__ import annotations

import os
from typing import Any, Protocol

import torch
from torch import nn

from losstopo.objective import Objective
from losstopo.registry import Registry


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


_REGISTRY: Registry[Problem] = Registry("problem")


def register(problem: Problem) -> Problem:
    """Make ``problem`` available by its name (used as the checkpoint's ``problem`` field)."""
    return _REGISTRY.add(problem)


def get_problem(name: str) -> Problem:
    """Look a problem up by name, with a clear error listing the known ones."""
    return _REGISTRY.get(name)


def problem_names() -> list[str]:
    return sorted(problem.name for problem in _REGISTRY.values())


def load_problem_modules(specs: str) -> None:
    """Import the problem modules of ``LOSSTOPO_PROBLEMS`` (each registers its problem once)."""
    from losstopo.user_code import import_user_code

    for spec in filter(None, specs.split(os.pathsep)):
        import_user_code(spec, "LOSSTOPO_PROBLEMS problem", reuse=True)


# Registration happens on import of each problem (the built-in ones are packages whose
# ``problem`` module registers them).
from losstopo.problems import convection as _convection  # noqa: E402, F401
from losstopo.problems import segmentation as _segmentation  # noqa: E402, F401

load_problem_modules(os.environ.get("LOSSTOPO_PROBLEMS", ""))
