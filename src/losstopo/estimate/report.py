"""The estimate as text: jobs and seconds per rule, the kinds of job behind them, and the
predicted wall time."""

from __future__ import annotations

from collections import Counter

from losstopo.estimate.prediction import Prediction


def counts_table(counts: Counter[str]) -> str:
    """Jobs per rule, as the dry run's "Job stats" table lists them."""
    width = max([len("total"), *map(len, counts)])
    lines = [f"{'rule':<{width}}  {'jobs':>6}"]
    lines += [f"{rule:<{width}}  {n:>6}" for rule, n in counts.items()]
    lines.append(f"{'total':<{width}}  {sum(counts.values()):>6}")
    return "\n".join(lines)


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min"


def report(central: Prediction, upper: Prediction, probes: str = "") -> str:
    """The central prediction with the full-budget upper bound of its wall time."""
    rules = central.by_rule()
    width = max([len("rule"), *map(len, rules)])
    lines = [f"{'rule':<{width}}  {'jobs':>6}  {'s per job':>9}  {'total s':>9}"]
    generic = []
    for rule, entry in rules.items():
        mean = entry.seconds / entry.jobs if entry.jobs else 0.0
        mark = " *" if entry.generic else ""
        lines.append(f"{rule:<{width}}  {entry.jobs:>6}  {mean:>9.1f}  {entry.seconds:>9.0f}{mark}")
        if entry.generic:
            generic.append(f"  * {rule}: generic cost (start-up + a constant): {entry.generic}")
    lines.append(
        f"{'total':<{width}}  {len(central.jobs):>6}  {'':>9}  {central.job_seconds:>9.0f}"
    )
    lines += generic
    lines.append("by kind of job:")
    for (rule, detail), (count, seconds) in central.by_kind().items():
        if detail and count:
            lines.append(f"  {rule} ({detail}): {count} x {seconds / count:.1f} s")
    if probes:
        lines.append(probes)
    text = (
        f"predicted wall time on {central.cores} cores: {_minutes(central.wall_seconds)} "
        f"({_minutes(central.job_seconds)} of jobs"
    )
    if upper.wall_seconds > central.wall_seconds:
        text += (
            f"; trainings at {central.budget_fraction:.0%} of their iteration budget; at most "
            f"{_minutes(upper.wall_seconds)} if every run uses its whole budget"
        )
    lines.append(text + ")")
    return "\n".join(lines)
