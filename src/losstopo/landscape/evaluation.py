"""n-D loss landscapes: the objective on the grid θ + Σ αᵢ dᵢ, evaluated in batches with
``vmap`` (§6.3).

Every grid point is built afresh from θ (never by accumulating steps), so the centre is θ
exactly; the grid itself is defined in ``grid``. The same chunked evaluation runs on an
explicit array of displacements (``evaluate_alphas``), which is how scattered samples
(``scattered``) are evaluated.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.func import vmap

from losstopo.errors import LosstopoError
from losstopo.landscape import DEFAULT_MEMORY_BUDGET_MB
from losstopo.landscape.grid import LandscapeResult, grid_alphas, grid_axes
from losstopo.layout import ChannelsLastCalls
from losstopo.objective import Objective
from losstopo.runtime import progress_bar


def activation_elements(objective: Objective) -> int:
    """Elements of all module outputs in one loss evaluation (counted with forward hooks):
    of the part of the data held in memory at once (``Objective.probe``: one batch of a
    loader objective, which evaluates its batches one after another)."""
    counted = [0]

    def hook(_module, _inputs, output):
        if isinstance(output, torch.Tensor):
            counted[0] += output.numel()

    handles = [m.register_forward_hook(hook) for m in objective.model.modules()]
    try:
        with torch.no_grad():
            objective.probe()
    finally:
        for handle in handles:
            handle.remove()
    return counted[0]


def choose_chunk_size(
    objective: Objective,
    memory_budget_mb: float,
    n_points: int,
    cache_mb: float | None = None,
) -> int:
    """Points per batched call: as many as fit ``memory_budget_mb`` (parameters plus
    activations, with headroom for tangents and temporaries), and on a CPU no more than
    keep the activations of one evaluation per point within ``cache_mb`` (default 16 MiB)
    so that batched matrix products run from cache: the PINN's subspace kernel measured
    fastest at 14–21 points (12–19 MiB) on one and two threads, against 9 at 8 MiB.
    At least 1, at most ``n_points``."""
    theta = objective.theta()
    itemsize = theta.element_size()
    activations = activation_elements(objective)
    per_point = itemsize * (3 * objective.n_parameters + 6 * activations)
    chunk = (memory_budget_mb * 2**20) // per_point
    if theta.device.type == "cpu":
        cache = 16.0 if cache_mb is None else cache_mb
        chunk = min(chunk, (cache * 2**20) // (itemsize * max(1, activations)))
    return int(max(1, min(n_points, chunk)))


def stacked(
    fn: Callable[[torch.Tensor], Any], direct: ChannelsLastCalls | None = None
) -> Callable[[torch.Tensor], Any]:
    """``fn`` of one flat point, applied to a stack of points (M × P): ``vmap`` for several,
    a direct call for one. A chunk holds one point when one evaluation's activations fill the
    cache budget (a conv net on a batch of images); there ``vmap`` only adds work (a grouped
    convolution of one group, and memory-format conversions around it), and the direct call
    runs through ``direct`` when given (channels-last convolutions on a CPU)."""
    batched = vmap(fn)

    def call(points: torch.Tensor) -> Any:
        if points.shape[0] != 1:
            return batched(points)
        out = fn(points[0]) if direct is None else direct(fn, points[0])
        if isinstance(out, (tuple, list)):
            return type(out)(value.unsqueeze(0) for value in out)
        return out.unsqueeze(0)

    return call


@dataclass
class LandscapeEvaluator:
    """Evaluates the objective at θ + α·D for many α at once (or one by one, as reference)."""

    objective: Objective
    directions: torch.Tensor  # (n, P), normalised, in the objective's dtype and device

    def __post_init__(self) -> None:
        self.theta = self.objective.theta().detach()
        self.directions = self.directions.to(dtype=self.theta.dtype, device=self.theta.device)
        loss_fn = self.objective.loss_fn
        unflatten = self.objective.unflatten
        model, device = self.objective.model, self.theta.device
        self._batched = self.objective.batched_loss_fn or stacked(
            lambda point: loss_fn(unflatten(point)), ChannelsLastCalls(model, device)
        )
        subspace = self.objective.subspace_loss_fn
        self._along = None if subspace is None else subspace(self.theta, self.directions)
        evaluate_fn = self.objective.evaluate_fn
        self._batched_pair = (
            None
            if evaluate_fn is None
            else stacked(
                lambda point: evaluate_fn(unflatten(point)), ChannelsLastCalls(model, device)
            )
        )

    @property
    def has_metric(self) -> bool:
        return self._batched_pair is not None

    def points(self, alphas: np.ndarray) -> torch.Tensor:
        """θ + α·D for each row of ``alphas``, each built directly from θ."""
        a = torch.as_tensor(alphas, dtype=self.theta.dtype, device=self.theta.device)
        return self.theta + a @ self.directions

    @torch.no_grad()
    def batched(self, alphas: np.ndarray) -> np.ndarray:
        """Losses at all rows of ``alphas`` in one vectorised call (the objective's subspace
        fast path when it has one, else its batched loss at the points θ + αD)."""
        if self._along is not None:
            a = torch.as_tensor(alphas, dtype=self.theta.dtype, device=self.theta.device)
            return self._along(a).double().cpu().numpy()
        return self.generic(alphas)

    @torch.no_grad()
    def generic(self, alphas: np.ndarray) -> np.ndarray:
        """Losses at the points θ + αD from the objective's batched loss (or ``vmap``)."""
        return self._batched(self.points(alphas)).double().cpu().numpy()

    @torch.no_grad()
    def batched_with_metric(self, alphas: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Losses and the objective's metric at all rows of ``alphas``, one forward each."""
        if self._batched_pair is None:
            raise LosstopoError("the objective has no metric")
        loss, metric = self._batched_pair(self.points(alphas))
        return loss.double().cpu().numpy(), metric.double().cpu().numpy()

    @torch.no_grad()
    def per_point(self, alphas: np.ndarray) -> np.ndarray:
        """Reference path: one objective call per point, θ rebuilt each time."""
        out = np.empty(len(alphas))
        for i, alpha in enumerate(alphas):
            point = self.points(alpha[None, :])[0]
            out[i] = float(self.objective.loss_fn(self.objective.unflatten(point)))
        return out


def evaluate_rows(
    evaluator: LandscapeEvaluator,
    alphas: np.ndarray,
    blocks: list[tuple[int, int]],
    chunk_size: int,
    label: str,
    show_progress: bool = True,
) -> tuple[np.ndarray, np.ndarray | None, float]:
    """Losses (and the metric, when the objective has one) at the rows of ``alphas`` in the
    row ranges ``blocks``, concatenated in that order, ``chunk_size`` rows per batched call.

    Chunks never cross a block, so a block's values do not depend on which other blocks are
    evaluated with it (grid tiles are blocks of whole slabs). Returns the values, the metric
    (``None`` without one) and the seconds spent.
    """
    if chunk_size < 1:
        raise LosstopoError(f"chunk size must be >= 1, got {chunk_size}")
    total = sum(stop - start for start, stop in blocks)
    values = np.empty(total)
    metric = np.empty(total) if evaluator.has_metric else None
    bar = progress_bar(total, label) if show_progress else None
    start_time = time.perf_counter()
    done = 0
    for start, stop in blocks:
        for begin in range(start, stop, chunk_size):
            end = min(begin + chunk_size, stop)
            rows = alphas[begin:end]
            out = slice(done, done + end - begin)
            if metric is None:
                values[out] = evaluator.batched(rows)
            else:
                values[out], metric[out] = evaluator.batched_with_metric(rows)
            done += end - begin
            if bar is not None:
                bar.update(end - begin)
                elapsed = time.perf_counter() - start_time
                bar.set_postfix(points_per_s=f"{done / elapsed:.0f}", refresh=False)
    seconds = time.perf_counter() - start_time
    if bar is not None:
        bar.close()
    return values, metric, seconds


def evaluate_alphas(
    objective: Objective,
    directions: torch.Tensor,
    alphas: np.ndarray,
    chunk_size: int | None = None,
    memory_budget_mb: float = DEFAULT_MEMORY_BUDGET_MB,
    show_progress: bool = True,
) -> tuple[np.ndarray, np.ndarray | None, int, float]:
    """The loss (and metric) at θ + α·D for every row α of an explicit (M × n) array, e.g.
    scattered samples: the same batched evaluator and chunking as the grid.

    Returns the values, the metric (``None`` without one), the chunk size used and seconds.
    """
    alphas = np.asarray(alphas, dtype=np.float64)
    dims = int(directions.shape[0])
    if alphas.ndim != 2 or alphas.shape[1] != dims:
        raise LosstopoError(
            f"alphas must have shape (points, {dims}) for {dims} directions, got {alphas.shape}"
        )
    if len(alphas) == 0:
        raise LosstopoError("no points to evaluate")
    if chunk_size is None:
        chunk_size = choose_chunk_size(objective, memory_budget_mb, len(alphas))
    evaluator = LandscapeEvaluator(objective, directions)
    values, metric, seconds = evaluate_rows(
        evaluator, alphas, [(0, len(alphas))], chunk_size, f"{dims}-D points", show_progress
    )
    return values, metric, chunk_size, seconds


def sample_landscape(
    objective: Objective,
    directions: torch.Tensor,
    resolution: int,
    distance: float,
    chunk_size: int | None = None,
    memory_budget_mb: float = DEFAULT_MEMORY_BUDGET_MB,
    show_progress: bool = True,
    slabs: range | None = None,
) -> LandscapeResult:
    """The loss on the grid spanned by the rows of ``directions`` around θ.

    Points are evaluated slab by slab along the first axis (chunks never cross a slab), so a
    tile (``slabs``: a range of first-axis indices) computes exactly the values the full grid
    has there, bit for bit; tiles merged along the first axis equal the untiled landscape.
    """
    dims = int(directions.shape[0])
    axes = grid_axes(dims, resolution, distance)
    alphas = grid_alphas(axes)
    if chunk_size is None:
        chunk_size = choose_chunk_size(objective, memory_budget_mb, len(alphas))
    if chunk_size < 1:
        raise LosstopoError(f"chunk size must be >= 1, got {chunk_size}")
    first = range(resolution) if slabs is None else slabs
    slab = resolution ** (dims - 1)
    evaluator = LandscapeEvaluator(objective, directions)
    blocks = [(index * slab, (index + 1) * slab) for index in first]
    values, metric, seconds = evaluate_rows(
        evaluator, alphas, blocks, chunk_size, f"{dims}-D landscape", show_progress
    )
    axes = [axes[0][list(first)], *axes[1:]]
    shape = (len(first),) + (resolution,) * (dims - 1)
    return LandscapeResult(
        values.reshape(shape),
        axes,
        chunk_size,
        seconds,
        resolution,
        metric=None if metric is None else metric.reshape(shape),
        metric_name=objective.metric_name if metric is not None else None,
    )
