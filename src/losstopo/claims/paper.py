"""The paper's four claims about the PINN landscapes (Geniesse et al. §4.1, Fig. 3, Fig. A.5),
each decided from the workflow's topology tables by the rule of :mod:`losstopo.claims.verdict`.

1. **Funnel vs bowl**: failure runs sit in wide, flat bowls and success runs in narrow
   funnels. The shape descriptors (the share of the landscape within a decade of the loss at
   θ, the depth of θ's basin in decades) are also functions of the loss at θ itself, which
   separates the regimes by three decades; the claim is therefore tested as the partial
   Spearman correlation of each descriptor with log10 error *given* log10 L(θ), at every
   extent of the extent study (the raw correlation is reported beside it).
2. **More saddles near failure**: failure minus success, raw, above the log threshold and in
   excess of the Taylor null model, per dimension and connectivity.
3. **More variation at the transition**: the between-seed standard deviation of each
   descriptor in the transition cell minus the larger one of the success and failure cells.
4. **More critical points in 4-D than in 3-D**: per run, 4-D minus 3-D, only where both grids
   have the same points per axis and the same step (otherwise dimension is confounded with
   resolution and the row is undetermined).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd

from losstopo.claims import verdict

SUCCESS, TRANSITION, FAILURE = "success", "transition", "failure"
# the smallest effect that matters, in each statistic's unit
MARGIN_COUNT = 1.0  # critical points per landscape
MARGIN_DECADES = 0.3  # a factor of 2 in loss (the significant log persistence)
MARGIN_FRACTION = 0.05  # share of the landscape
MARGIN_CORRELATION = 0.2  # a weak rank correlation

SHAPE_DESCRIPTORS = {  # descriptor: (claimed sign for failure vs success, margin)
    "fraction_within_decade": (+1, MARGIN_FRACTION),
    "basin_depth_decades": (-1, MARGIN_DECADES),
}
SADDLE_COUNTS = ["n_saddles_raw", "n_saddles_above_log", "excess_n_saddles_above_log"]
SPREAD_DESCRIPTORS = {
    "n_minima_above_log": MARGIN_COUNT,
    "n_saddles_above_log": MARGIN_COUNT,
    "basin_depth_decades": MARGIN_DECADES,
}
CRITICAL_POINT_TOTALS = {
    "critical_points_raw": ("n_minima_raw", "n_saddles_raw"),
    "excess_critical_points_above_log": ("excess_n_minima_above_log", "excess_n_saddles_above_log"),
}
COLUMNS = [
    "claim",
    "statistic",
    "dims",
    "connectivity",
    "distance",
    "comparison",
    "n_a",
    "n_b",
    "value_a",
    "value_b",
    "effect",
    "ci_low",
    "ci_high",
    "effect_size",
    "unadjusted",
    "margin",
    "verdict",
    "reason",
]


def _runs(table: pd.DataFrame) -> pd.DataFrame:
    """One row per run with the descriptors and log10 error/θ-loss columns added."""
    table = table.copy()
    table["log10_error"] = np.log10(table["relative_l2_error"].astype(float))
    table["log10_center_loss"] = np.log10(table["center_loss"].astype(float))
    return table


def _regime(table: pd.DataFrame, name: str, column: str) -> np.ndarray:
    return table.loc[table["regime"] == name, column].to_numpy(dtype=float)


def _row(
    claim: str,
    statistic: str,
    where: dict[str, Any],
    decision: verdict.Decision,
    comparison: str,
    margin: float,
    n_a: int,
    n_b: int,
    value_a: float,
    value_b: float,
    unadjusted: float = math.nan,
) -> dict[str, Any]:
    return {
        "claim": claim,
        "statistic": statistic,
        "dims": where.get("dims"),
        "connectivity": where.get("connectivity", ""),
        "distance": where.get("distance"),
        "comparison": comparison,
        "n_a": n_a,
        "n_b": n_b,
        "value_a": value_a,
        "value_b": value_b,
        "effect": decision.effect,
        "ci_low": decision.ci_low,
        "ci_high": decision.ci_high,
        "effect_size": decision.effect_size,
        "unadjusted": unadjusted,
        "margin": margin,
        "verdict": decision.verdict,
        "reason": decision.reason,
    }


def _mean(values: np.ndarray) -> float:
    values = values[np.isfinite(values)]
    return float(values.mean()) if values.size else math.nan


def _groups(table: pd.DataFrame, keys: list[str]) -> Iterator[tuple[dict[str, Any], pd.DataFrame]]:
    for values, group in table.groupby(keys, sort=True, dropna=False):
        yield (
            dict(zip(keys, values if isinstance(values, tuple) else (values,), strict=True)),
            group,
        )


def funnel_vs_bowl(extent: pd.DataFrame, seed: int = 0) -> list[dict[str, Any]]:
    """Claim 1 at each extent: partial Spearman correlation of each shape descriptor with
    log10 error given log10 L(θ) (sign as claimed: bowl-like where the error is large)."""
    rows = []
    extent = _runs(extent)
    connectivity = extent["connectivity"].iloc[0]  # loss-only descriptors: one graph suffices
    for where, group in _groups(
        extent[extent["connectivity"] == connectivity], ["dims", "distance"]
    ):
        for descriptor, (sign, _) in SHAPE_DESCRIPTORS.items():
            x = sign * group[descriptor].to_numpy(dtype=float)
            y, z = group["log10_error"].to_numpy(), group["log10_center_loss"].to_numpy()
            raw = float(verdict.partial_spearman(x, y, None)) if len(group) > 2 else math.nan
            decision = verdict.correlation(
                x, y, z, group["regime"].to_numpy(), MARGIN_CORRELATION, seed
            )
            row = _row(
                "funnel vs bowl",
                f"partial rho({'' if sign > 0 else '-'}{descriptor}, log error given log L(theta))",
                {**where, "connectivity": connectivity},
                decision,
                "all runs",
                MARGIN_CORRELATION,
                len(group),
                0,
                math.nan,
                math.nan,
                unadjusted=raw,
            )
            rows.append(row)
    return rows


def more_saddles_near_failure(summary: pd.DataFrame, seed: int = 0) -> list[dict[str, Any]]:
    """Claim 2: failure minus success saddle counts, per dimension and connectivity."""
    rows = []
    for where, group in _groups(summary, ["dims", "connectivity", "distance"]):
        for statistic in SADDLE_COUNTS:
            a, b = _regime(group, FAILURE, statistic), _regime(group, SUCCESS, statistic)
            decision = verdict.mean_difference(a, b, MARGIN_COUNT, seed)
            rows.append(
                _row(
                    "more saddles near failure",
                    statistic,
                    where,
                    decision,
                    "failure - success",
                    MARGIN_COUNT,
                    a.size,
                    b.size,
                    _mean(a),
                    _mean(b),
                )
            )
    return rows


def _spread_row(
    group: pd.DataFrame, statistic: str, margin: float, where: dict[str, Any], seed: int
) -> dict[str, Any]:
    cells = [_regime(group, name, statistic) for name in (TRANSITION, SUCCESS, FAILURE)]
    decision = verdict.spread_excess(cells[0], cells[1:], margin, seed)
    spread = [float(np.std(c, ddof=1)) if c.size > 1 else math.nan for c in cells]
    return _row(
        "more variation at the transition",
        f"sd({statistic})",
        where,
        decision,
        "transition - max(success, failure)",
        margin,
        cells[0].size,
        min(c.size for c in cells[1:]),
        spread[0],
        max(spread[1:]),
    )


def more_variation_at_transition(summary: pd.DataFrame, seed: int = 0) -> list[dict[str, Any]]:
    """Claim 3: between-seed SD at the transition minus the larger SD of the other cells,
    for the error of the runs and for each descriptor of each landscape."""
    summary = _runs(summary)
    runs = summary.drop_duplicates("run")
    rows = [_spread_row(runs, "log10_error", MARGIN_DECADES, {}, seed)]
    for where, group in _groups(summary, ["dims", "connectivity", "distance"]):
        for statistic, margin in SPREAD_DESCRIPTORS.items():
            rows.append(_spread_row(group, statistic, margin, where, seed))
    return rows


def _step(group: pd.DataFrame) -> float:
    """Grid step along each axis (NaN for scattered samples)."""
    resolution = float(group["resolution"].iloc[0])
    return 2 * float(group["distance"].iloc[0]) / (resolution - 1) if resolution > 1 else math.nan


def more_critical_points_in_4d(summary: pd.DataFrame, seed: int = 0) -> list[dict[str, Any]]:
    """Claim 4: per run, 4-D minus 3-D critical points on grids of equal points per axis and
    step; a mismatched pair is reported as undetermined (dimension confounded)."""
    rows = []
    grids = summary[summary["resolution"].notna()]
    for where, group in _groups(grids, ["connectivity", "distance"]):
        low, high = group[group["dims"] == 3], group[group["dims"] == 4]
        if low.empty or high.empty:
            continue
        matched = float(low["resolution"].iloc[0]) == float(high["resolution"].iloc[0])
        keys = ["run"]
        for statistic, (minima, saddles) in CRITICAL_POINT_TOTALS.items():
            counts = [
                frame.assign(total=frame[minima] + frame[saddles]).set_index(keys)
                for frame in (low, high)
            ]
            paired = counts[1][["total", "regime"]].join(
                counts[0][["total"]].rename(columns={"total": "total_3d"})
            )
            differences = (paired["total"] - paired["total_3d"]).to_numpy(dtype=float)
            decision = verdict.paired_difference(
                differences, paired["regime"].to_numpy(), MARGIN_COUNT, seed
            )
            if not matched:
                decision = verdict.Decision(
                    decision.effect,
                    decision.ci_low,
                    decision.ci_high,
                    decision.effect_size,
                    verdict.UNDETERMINED,
                    f"confounded: 3-D has {low['resolution'].iloc[0]:g} points per axis "
                    f"(step {_step(low):.3g}), 4-D {high['resolution'].iloc[0]:g} "
                    f"(step {_step(high):.3g})",
                )
            rows.append(
                _row(
                    "more critical points in 4-D",
                    statistic,
                    {**where, "dims": 4},
                    decision,
                    "4-D - 3-D, paired by run",
                    MARGIN_COUNT,
                    len(paired),
                    len(paired),
                    _mean(paired["total"].to_numpy(float)),
                    _mean(paired["total_3d"].to_numpy(float)),
                )
            )
    return rows


def paper_claims(summary: pd.DataFrame, extent: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """Every claim row, in claim order, from the PINN topology summary and extent tables."""
    for name, table in (("topology summary", summary), ("extent study", extent)):
        missing = {"regime", "run", "dims", "connectivity", "distance"} - set(table.columns)
        if missing:
            raise ValueError(f"the {name} table has no column(s) {', '.join(sorted(missing))}")
    rows = (
        funnel_vs_bowl(extent, seed)
        + more_saddles_near_failure(summary, seed)
        + more_variation_at_transition(summary, seed)
        + more_critical_points_in_4d(summary, seed)
    )
    return pd.DataFrame(rows, columns=COLUMNS)
