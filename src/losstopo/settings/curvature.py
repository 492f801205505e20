"""The settings of the curvature stage (``losstopo curvature``, ``curvature.nc``): the
Hessian trace by Hutchinson's estimator and the spectral density by stochastic Lanczos
quadrature."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from losstopo.settings.record import SEED, StageSettings, option

# the options of each estimator, in their own group of --help
trace = partial(option, group="trace (Hutchinson)")
density = partial(option, group="spectral density (stochastic Lanczos quadrature)")
# the workflow's HVP budgets are per problem; these defaults are those of your own models
BUDGET = "curvature.budgets.models."


@dataclass(frozen=True, kw_only=True)
class CurvatureSettings(StageSettings, section="curvature"):
    """The estimators' budgets, stopping rule, seed and smoothing."""

    deflate: bool = option(
        True,
        "with --directions, trace the span of its eigenvectors exactly and estimate only the "
        "rest by probes (--no-deflate: the whole trace by probes)",
        attr=None,
    )
    seed: int = option(0, "seed of the probes and start vectors", **SEED)
    trace_max_hvps: int = trace(
        200,
        "Hessian-vector product budget of the trace",
        at_least=1,
        aliases=("--trace-max-hvp",),
        config=BUDGET,
    )
    trace_min_probes: int = trace(
        20, "probes before the stopping rule applies", at_least=1, config=BUDGET
    )
    rel_se_target: float = trace(
        0.05,
        "target relative standard error of the trace",
        at_least=0,
        aliases=("--rel-se",),
        attr="trace_rel_se_target",
    )
    slq_runs: int = density(3, "SLQ runs (start vectors)", at_least=1, config=BUDGET)
    slq_steps: int = density(
        40, "Lanczos steps per SLQ run", at_least=1, attr="slq_steps_requested", config=BUDGET
    )
    width: float = density(
        4.0, "density kernel standard deviation in grid steps", above=0, attr="esd_width_grid_steps"
    )
    grid_points: int = density(
        1000, "points of the density's symmetric-log grid", at_least=1, attr="esd_n_grid"
    )
