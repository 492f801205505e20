"""Full-batch optimiser loops for any loss closure: L-BFGS and Adam, stopping at the first
non-finite loss (divergence)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import torch

from losstopo.runtime import progress_bar


@dataclass
class TrainOutcome:
    """What an optimiser run did: iterations, loss evaluations, the last loss, divergence."""

    iterations: int
    evaluations: int
    final_loss: float
    diverged: bool
    seconds: float
    loss_history: list[float] = field(default_factory=list)


class _Diverged(Exception):
    """Raised from inside an optimiser closure to stop at the first non-finite loss."""


def run_lbfgs(
    params: Iterable[torch.nn.Parameter],
    loss: Callable[[], torch.Tensor],
    lr: float,
    iterations: int,
    history_size: int = 50,
    tolerance_grad: float = 1e-7,
    tolerance_change: float = 1e-7,
) -> TrainOutcome:
    """L-BFGS with strong-Wolfe line search, run for at most ``iterations`` iterations.

    One ``step`` with ``max_iter = iterations``, as in the reference PINN code; it stops
    early on the gradient / change tolerances, or at the first non-finite loss.
    """
    params = list(params)
    optimizer = torch.optim.LBFGS(
        params,
        lr=lr,
        max_iter=iterations,
        max_eval=None,
        history_size=history_size,
        tolerance_grad=tolerance_grad,
        tolerance_change=tolerance_change,
        line_search_fn="strong_wolfe",
    )
    history: list[float] = []
    bar = progress_bar(iterations, "L-BFGS")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        value = loss()
        current = float(value.detach())
        history.append(current)
        if not math.isfinite(current):
            raise _Diverged
        value.backward()
        bar.n = optimizer.state[params[0]].get("n_iter", 0)
        bar.set_postfix(loss=f"{current:.3e}", refresh=False)
        bar.refresh()
        return value

    start = time.perf_counter()
    diverged = False
    try:
        optimizer.step(closure)
    except _Diverged:
        diverged = True
    finally:
        bar.close()
    seconds = time.perf_counter() - start
    with torch.no_grad():
        final = float(loss())
    diverged = diverged or not math.isfinite(final) or not _all_finite(params)
    return TrainOutcome(
        iterations=int(optimizer.state[params[0]].get("n_iter", 0)),
        evaluations=len(history),
        final_loss=final,
        diverged=diverged,
        seconds=seconds,
        loss_history=history,
    )


def run_adam(
    params: Iterable[torch.nn.Parameter],
    loss: Callable[[], torch.Tensor],
    lr: float,
    iterations: int,
) -> TrainOutcome:
    """Plain Adam for ``iterations`` full-batch steps; stops at the first non-finite loss."""
    params = list(params)
    optimizer = torch.optim.Adam(params, lr=lr)
    history: list[float] = []
    diverged = False
    start = time.perf_counter()
    steps = 0
    with progress_bar(iterations, "Adam") as bar:
        for _ in range(iterations):
            optimizer.zero_grad()
            value = loss()
            current = float(value.detach())
            history.append(current)
            if not math.isfinite(current):
                diverged = True
                break
            value.backward()
            optimizer.step()
            steps += 1
            bar.update()
            if steps % 50 == 0:
                bar.set_postfix(loss=f"{current:.3e}")
    seconds = time.perf_counter() - start
    with torch.no_grad():
        final = float(loss())
    diverged = diverged or not math.isfinite(final) or not _all_finite(params)
    return TrainOutcome(steps, len(history), final, diverged, seconds, history)


def _all_finite(params: list[torch.nn.Parameter]) -> bool:
    return all(bool(torch.isfinite(p).all()) for p in params)
