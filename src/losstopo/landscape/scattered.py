"""Scattered landscapes: the loss at N points θ + Σ αᵢ dᵢ with α scattered in the cube
[−distance, distance]ⁿ, for dimensions where a grid is out of reach (41⁵ ≈ 1.2·10⁸ points).

The points are a scrambled Sobol sequence (low discrepancy: the cube is covered evenly at
every N) or seeded uniform samples, and point 0 is always the centre α = 0, so θ itself is a
sample and its basin can be found in the merge tree. Their topology uses the exact k-NN
graph (``losstopo.topology.mergetree.merge_tree_on_points``).

Sobol balance: the first 2ᵐ points of a scrambled Sobol sequence form a (t, m, n)-net, whose
equal-volume dyadic boxes hold equally many points; a prefix of any other length is not
balanced. Any ``n_points`` is accepted (a study asks for 10⁵ points, not 2¹⁷), the centre
followed by the first ``n_points − 1`` Sobol points; the set is balanced exactly when
``n_points − 1`` is a power of two (``sobol_balanced``). scipy's warning about unbalanced
prefixes is therefore expected and silenced here.

θ resolved: at the study's extents the loss rises by decades between θ and its nearest cube
samples, so θ alone would be an isolated sample whose basin is itself. ``center_points``
further points fill the inner cube [−s·distance, s·distance]ⁿ (s = ``center_scale``, 0.1 by
default), from a second stream of the same kind, so that the merge tree sees the bowl around
θ. Shares of vertices (basin fractions) then count samples, not volume.

Nothing here imports torch until the loss is evaluated (``sample_scattered``).
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from losstopo.errors import LosstopoError
from losstopo.landscape import DEFAULT_MEMORY_BUDGET_MB

if TYPE_CHECKING:
    import torch

    from losstopo.objective import Objective

SAMPLINGS = ("sobol", "random")


def sobol_balanced(n_points: int) -> bool:
    """Whether the Sobol points after the centre are a balanced net (a power of two)."""
    m = n_points - 1
    return m >= 1 and (m & (m - 1)) == 0


def scattered_points(
    dims: int,
    n_points: int,
    distance: float,
    *,
    sampling: str = "sobol",
    seed: int,
    center_points: int = 0,
    center_scale: float = 0.1,
) -> np.ndarray:
    """``n_points`` displacements α (rows) in [−distance, distance]^``dims``; row 0 is the
    centre (all zeros), the rest scrambled Sobol or uniform samples, reproducible for ``seed``;
    then ``center_points`` rows in the inner cube of half-width ``center_scale``·distance.

    Sobol points u ∈ [0, 1) map to distance·(2u − 1), so every coordinate lies in
    [−distance, distance) — inside the cube, as the uniform samples are.
    """
    if isinstance(dims, bool) or not isinstance(dims, int | np.integer) or dims < 1:
        raise LosstopoError(f"dims must be an integer >= 1, got {dims!r}")
    if isinstance(n_points, bool) or not isinstance(n_points, int | np.integer) or n_points < 2:
        raise LosstopoError(
            f"n_points must be an integer >= 2 (the centre and one sample), got {n_points!r}"
        )
    if not (math.isfinite(distance) and distance > 0):
        raise LosstopoError(f"distance must be a finite number > 0, got {distance}")
    if sampling not in SAMPLINGS:
        raise LosstopoError(f"unknown sampling {sampling!r} (choose {', '.join(SAMPLINGS)})")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise LosstopoError(f"seed must be an integer >= 0, got {seed!r}")
    if (
        isinstance(center_points, bool)
        or not isinstance(center_points, int | np.integer)
        or center_points < 0
    ):
        raise LosstopoError(f"center_points must be an integer >= 0, got {center_points!r}")
    if not (math.isfinite(center_scale) and 0 < center_scale < 1):
        raise LosstopoError(f"center_scale must be a number in (0, 1), got {center_scale}")
    dims, n_points, seed = int(dims), int(n_points), int(seed)
    points = np.zeros((n_points + int(center_points), dims), dtype=np.float64)
    points[1:n_points] = _cube(dims, n_points - 1, distance, sampling, seed)
    if center_points:
        inner = distance * center_scale
        points[n_points:] = _cube(dims, int(center_points), inner, sampling, [seed, 1])
    return points


def _cube(dims: int, count: int, half: float, sampling: str, seed: int | list[int]):
    """``count`` points of [−half, half)ⁿ: scrambled Sobol or uniform, seeded."""
    rng = np.random.default_rng(seed)
    if sampling == "random":
        return rng.uniform(-half, half, size=(count, dims))
    from scipy.stats import qmc  # scipy only where points are drawn

    engine = qmc.Sobol(d=dims, scramble=True, rng=rng)
    with warnings.catch_warnings():
        # unbalanced prefixes are accepted on purpose (see the module docstring)
        warnings.filterwarnings("ignore", message=".*balance properties.*")
        unit = engine.random(count)
    return half * (2.0 * unit - 1.0)


@dataclass
class ScatteredResult:
    """The loss (and the objective's metric) at scattered displacements around θ."""

    loss: np.ndarray  # (n_points,)
    points: np.ndarray  # (n_points, dims) relative displacements α; row 0 is the centre
    chunk_size: int
    seconds: float
    sampling: str
    seed: int
    distance: float
    metric: np.ndarray | None = None
    metric_name: str | None = None
    center_points: int = 0
    center_scale: float = 0.1

    @property
    def dims(self) -> int:
        return int(self.points.shape[1])

    @property
    def n_points(self) -> int:
        return int(self.points.shape[0])

    @property
    def points_per_second(self) -> float:
        return self.loss.size / self.seconds if self.seconds > 0 else math.inf


@dataclass(frozen=True)
class ScatteredDesign:
    """Where a scattered landscape is sampled: the arguments of :func:`scattered_points`
    besides the dimension."""

    n_points: int
    distance: float
    sampling: str = "sobol"
    seed: int = 0
    center_points: int = 0
    center_scale: float = 0.1

    def points(self, dims: int) -> np.ndarray:
        return scattered_points(dims, **dataclasses.asdict(self))


def sample_scattered(
    objective: Objective,
    directions: torch.Tensor,
    design: ScatteredDesign,
    *,
    chunk_size: int | None = None,
    memory_budget_mb: float = DEFAULT_MEMORY_BUDGET_MB,
    show_progress: bool = True,
) -> ScatteredResult:
    """The loss at the ``design``'s displacements along the rows of ``directions``,
    evaluated in batches like the grid (``evaluate_alphas``)."""
    from losstopo.landscape.evaluation import evaluate_alphas

    points = design.points(int(directions.shape[0]))
    loss, metric, chunk_size, seconds = evaluate_alphas(
        objective,
        directions,
        points,
        chunk_size=chunk_size,
        memory_budget_mb=memory_budget_mb,
        show_progress=show_progress,
    )
    name = objective.metric_name if metric is not None else None
    fields = (loss, points, chunk_size, seconds, design.sampling, int(design.seed))
    fields += (float(design.distance),)
    inner = dict(center_points=int(design.center_points), center_scale=float(design.center_scale))
    return ScatteredResult(*fields, metric=metric, metric_name=name, **inner)
