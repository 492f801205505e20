"""The prediction: every planned job costed, and the study's wall time on the cores."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from losstopo.estimate.costs import (
    TYPICAL_BUDGET_FRACTION,
    Context,
    CostedJob,
    ProbeRates,
    cost_job,
)
from losstopo.estimate.schedule import wall_time
from losstopo.estimate.study import Study


@dataclass
class RuleCost:
    """The jobs of one rule: how many, their summed seconds, and whether any was costed
    generically (with the reason)."""

    jobs: int = 0
    seconds: float = 0.0
    generic: str = ""


@dataclass
class Prediction:
    jobs: list[CostedJob]
    cores: int
    wall_seconds: float
    budget_fraction: float

    @property
    def job_seconds(self) -> float:
        """Summed seconds of all jobs (each on its own threads)."""
        return sum(job.seconds for job in self.jobs)

    def by_rule(self) -> dict[str, RuleCost]:
        """Per rule, in the order the rules first appear in the plan."""
        rules: dict[str, RuleCost] = {}
        for costed in self.jobs:
            entry = rules.setdefault(costed.job.rule, RuleCost())
            entry.jobs += 1
            entry.seconds += costed.seconds
            if costed.generic and not entry.generic:
                entry.generic = costed.detail
        return rules

    def by_kind(self) -> dict[tuple[str, str], tuple[int, float]]:
        """Jobs and summed seconds per rule and kind of job (e.g. ``landscape``,
        ``pinn 13^3``)."""
        counts: Counter[tuple[str, str]] = Counter()
        seconds: dict[tuple[str, str], float] = {}
        for costed in self.jobs:
            key = (costed.job.rule, costed.detail)
            counts[key] += 1
            seconds[key] = seconds.get(key, 0.0) + costed.seconds
        return {key: (counts[key], seconds[key]) for key in counts}


def rule_counts(study: Study) -> Counter[str]:
    """Jobs per rule of the plan."""
    return Counter(job.rule for job in study.jobs)


def predict(
    study: Study,
    rates: ProbeRates,
    cores: int,
    budget_fraction: float = TYPICAL_BUDGET_FRACTION,
) -> Prediction:
    """Cost every job of ``study`` and schedule them on ``cores``, with trainings that stop
    on their tolerances costed at ``budget_fraction`` of their iteration budget."""
    context = Context(study, rates, budget_fraction)
    costed = [cost_job(context, job) for job in study.jobs]
    index = {id(job): i for i, job in enumerate(study.jobs)}
    after = [[index[id(up)] for up in study.upstream(job)] for job in study.jobs]
    threads = [job.planned.threads for job in study.jobs]
    wall = wall_time([c.seconds for c in costed], threads, after, cores)
    return Prediction(costed, cores, wall, budget_fraction)
