"""The verdict rule of a claim: an effect, its bootstrap interval over seeds, and a stated
three-way decision.

A claim says an effect is positive (e.g. failure runs have more saddles than success runs).
With a 95 % percentile-bootstrap interval [low, high] of the effect and the claim's
*negligible margin* m (the smallest effect that matters, in the statistic's own unit):

- **holds** when low > 0 and the estimate is at least m: the effect is positive and not
  negligible;
- **fails** when high < 0 (the opposite effect), or when the whole interval lies inside
  (-m, m) (no effect worth the name);
- **undetermined** otherwise, and whenever a group has fewer than ``MIN_SEEDS`` seeds.

Resampling is within each group (seeds of one cell, or runs of one regime for paired and
correlation statistics), with a fixed seed: the same table gives the same verdict.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

MIN_SEEDS = 3  # fewer seeds per group: no interval worth reading
CONFIDENCE = 0.95
N_BOOTSTRAP = 2000
HOLDS, FAILS, UNDETERMINED = "holds", "fails", "undetermined"


@dataclass(frozen=True)
class Decision:
    """An effect with its interval, standardised size and verdict."""

    effect: float
    ci_low: float
    ci_high: float
    effect_size: float
    verdict: str
    reason: str


def decide(effect: float, low: float, high: float, margin: float, enough: bool) -> tuple[str, str]:
    """The verdict of an effect claimed positive, and why (see the module docstring)."""
    if not enough:
        return UNDETERMINED, f"fewer than {MIN_SEEDS} seeds in a group"
    if not all(math.isfinite(v) for v in (effect, low, high)):
        return UNDETERMINED, "no finite interval"
    if low > 0 and effect >= margin:
        return HOLDS, "interval above 0 and estimate at least the margin"
    if high < 0:
        return FAILS, "interval below 0: the opposite effect"
    if -margin < low and high < margin:
        return FAILS, "interval inside the negligible margin"
    return UNDETERMINED, "interval too wide to decide"


def _interval(samples: np.ndarray) -> tuple[float, float]:
    samples = samples[np.isfinite(samples)]
    if samples.size == 0:
        return math.nan, math.nan
    tail = (1 - CONFIDENCE) / 2
    low, high = np.quantile(samples, [tail, 1 - tail])
    return float(low), float(high)


def _finite(values: Sequence[float]) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    return array[np.isfinite(array)]


def bootstrap(
    statistic: Callable[..., np.ndarray], groups: Sequence[np.ndarray], seed: int = 0
) -> tuple[float, float]:
    """Percentile interval of ``statistic`` over resamples of each group with replacement.

    ``statistic`` takes one (resamples, group size) array per group and returns one value per
    resample; all resamples are drawn at once.
    """
    rng = np.random.default_rng(seed)
    resampled = [g[rng.integers(0, g.size, (N_BOOTSTRAP, g.size))] for g in groups]
    return _interval(np.asarray(statistic(*resampled), dtype=float))


def _point(statistic: Callable[..., np.ndarray], groups: Sequence[np.ndarray]) -> float:
    """``statistic`` of the groups as observed (one resample: the data itself)."""
    return float(np.asarray(statistic(*(g[None, :] for g in groups)))[0])


def _enough(*groups: np.ndarray) -> bool:
    return all(g.size >= MIN_SEEDS for g in groups)


def mean_difference(
    a: Sequence[float], b: Sequence[float], margin: float, seed: int = 0
) -> Decision:
    """mean(a) - mean(b), claimed positive; effect size Hedges' g (pooled standard deviation,
    small-sample corrected; ±inf when both groups are constant and differ)."""
    a, b = _finite(a), _finite(b)
    if a.size == 0 or b.size == 0:
        return Decision(math.nan, math.nan, math.nan, math.nan, UNDETERMINED, "an empty group")
    effect = float(a.mean() - b.mean())
    low, high = bootstrap(lambda x, y: x.mean(axis=1) - y.mean(axis=1), [a, b], seed)
    dof = a.size + b.size - 2
    pooled = (
        math.sqrt(((a.size - 1) * a.var(ddof=1) + (b.size - 1) * b.var(ddof=1)) / dof)
        if dof > 0 and a.size > 1 and b.size > 1
        else math.nan
    )
    size = _ratio(effect, pooled) * (1 - 3 / (4 * dof - 1) if dof > 0 else math.nan)
    verdict, reason = decide(effect, low, high, margin, _enough(a, b))
    return Decision(effect, low, high, size, verdict, reason)


def paired_difference(
    differences: Sequence[float], strata: Sequence[object], margin: float, seed: int = 0
) -> Decision:
    """Mean of per-run differences, claimed positive; runs are resampled within their stratum
    (regime); effect size d_z = mean / standard deviation of the differences."""
    values = np.asarray(differences, dtype=float)
    labels = np.asarray(strata, dtype=object)
    keep = np.isfinite(values)
    values, labels = values[keep], labels[keep]
    if values.size == 0:
        return Decision(math.nan, math.nan, math.nan, math.nan, UNDETERMINED, "no runs")
    groups = [values[labels == label] for label in dict.fromkeys(labels)]
    effect = float(values.mean())
    low, high = bootstrap(lambda *g: np.concatenate(g, axis=1).mean(axis=1), groups, seed)
    size = _ratio(effect, float(values.std(ddof=1)) if values.size > 1 else math.nan)
    verdict, reason = decide(effect, low, high, margin, _enough(*groups))
    return Decision(effect, low, high, size, verdict, reason)


def spread_excess(
    target: Sequence[float], others: Sequence[Sequence[float]], margin: float, seed: int = 0
) -> Decision:
    """SD(target) - max SD(others) across seeds, claimed positive; effect size the log10
    ratio of those standard deviations."""
    groups = [_finite(target), *(_finite(o) for o in others)]
    if any(g.size < 2 for g in groups):
        return Decision(math.nan, math.nan, math.nan, math.nan, UNDETERMINED, "under 2 seeds")

    def excess(first: np.ndarray, *rest: np.ndarray) -> np.ndarray:
        widest = np.max([r.std(axis=1, ddof=1) for r in rest], axis=0)
        return first.std(axis=1, ddof=1) - widest

    effect = _point(excess, groups)
    low, high = bootstrap(excess, groups, seed)
    widest = max(g.std(ddof=1) for g in groups[1:])
    size = _log_ratio(float(groups[0].std(ddof=1)), float(widest))
    verdict, reason = decide(effect, low, high, margin, _enough(*groups))
    return Decision(effect, low, high, size, verdict, reason)


def partial_spearman(x: np.ndarray, y: np.ndarray, z: np.ndarray | None) -> np.ndarray:
    """Spearman correlation of x and y, or their partial correlation given z, along the last
    axis: the Pearson correlation of the ranks of x and y after removing the linear trend of
    z's ranks (ties get average ranks). NaN where a variable has no spread."""
    from scipy.stats import rankdata

    rx, ry = rankdata(x, axis=-1), rankdata(y, axis=-1)
    rx, ry = rx - rx.mean(-1, keepdims=True), ry - ry.mean(-1, keepdims=True)
    if z is not None:
        rz = rankdata(z, axis=-1)
        rz = rz - rz.mean(-1, keepdims=True)
        var = (rz * rz).sum(-1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            rx = rx - np.where(var > 0, (rx * rz).sum(-1, keepdims=True) / var, 0) * rz
            ry = ry - np.where(var > 0, (ry * rz).sum(-1, keepdims=True) / var, 0) * rz
    norm = np.sqrt((rx * rx).sum(-1) * (ry * ry).sum(-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(norm > 1e-9, (rx * ry).sum(-1) / norm, np.nan)


def correlation(
    x: Sequence[float],
    y: Sequence[float],
    z: Sequence[float] | None,
    strata: Sequence[object],
    margin: float,
    seed: int = 0,
) -> Decision:
    """(Partial) Spearman correlation of x and y (given z), claimed positive; runs are
    resampled within their stratum. The effect size is the correlation itself."""
    columns = [np.asarray(v, dtype=float) for v in (x, y, *([z] if z is not None else []))]
    labels = np.asarray(strata, dtype=object)
    keep = np.all([np.isfinite(c) for c in columns], axis=0)
    columns, labels = [c[keep] for c in columns], labels[keep]
    if labels.size < 4:
        return Decision(math.nan, math.nan, math.nan, math.nan, UNDETERMINED, "under 4 runs")
    table = np.column_stack(columns)
    strata_rows = [np.flatnonzero(labels == label) for label in dict.fromkeys(labels)]

    def statistic(*rows: np.ndarray) -> np.ndarray:
        picked = table[np.concatenate(rows, axis=1)]  # (resamples, runs, variables)
        return partial_spearman(
            picked[..., 0], picked[..., 1], picked[..., 2] if z is not None else None
        )

    effect = _point(statistic, strata_rows)
    if not math.isfinite(effect):
        reason = "no variation left given the control" if z is not None else "a constant variable"
        return Decision(effect, math.nan, math.nan, effect, UNDETERMINED, reason)
    low, high = bootstrap(statistic, strata_rows, seed)
    verdict, reason = decide(effect, low, high, margin, _enough(*strata_rows))
    return Decision(effect, low, high, effect, verdict, reason)


def _ratio(numerator: float, denominator: float) -> float:
    if not math.isfinite(denominator):
        return math.nan
    if denominator == 0:
        return 0.0 if numerator == 0 else math.copysign(math.inf, numerator)
    return numerator / denominator


def _log_ratio(numerator: float, denominator: float) -> float:
    if numerator == 0 and denominator == 0:
        return 0.0
    if denominator == 0:
        return math.inf
    if numerator == 0:
        return -math.inf
    return math.log10(numerator / denominator)
