"""The settings of the curvature stage (``losstopo curvature``, ``curvature.nc``): the
Hessian trace by Hutchinson's estimator, the spectral density by stochastic Lanczos
quadrature and, on request, the curvature of each layer's diagonal Hessian block."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from losstopo.settings.record import SEED, StageSettings, option

# the options of each estimator, in their own group of --help
trace = partial(option, group="trace (Hutchinson)")
density = partial(option, group="spectral density (stochastic Lanczos quadrature)")
# per-layer curvature: the workflow's switch is curvature.per_layer; its details are CLI-only
layers = partial(option, group="per-layer curvature (diagonal Hessian blocks)", config=None)
# the workflow's HVP budgets are per problem; these defaults are those of your own models
BUDGET = "curvature.budgets.models."


@dataclass(frozen=True, kw_only=True)
class CurvatureSettings(StageSettings, section="curvature"):
    """The estimators' budgets, stopping rule, seed and smoothing. The per-layer settings
    are recorded in ``curvature.nc`` only where ``per_layer`` is on: a file without
    per-layer curvature is the same as one written before they existed."""

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
    per_layer: bool = layers(
        False,
        "also the top eigenvalue and trace of each layer's diagonal Hessian block (the "
        "Hessian in that layer's parameters alone), over curvature.nc's layer dimension",
        config="curvature.per_layer",
    )
    layer_groups: str = layers(
        "tensor",
        "layers of --per-layer: each parameter tensor, or each module (its weight and bias "
        "together)",
        choices=("tensor", "module"),
    )
    layer_probes: int = layers(
        30,
        "Rademacher probes of the per-layer traces (shared by all layers, one "
        "Hessian-vector product each)",
        at_least=2,
        attr="layer_trace_probes",
    )
    layer_max_hvps: int = layers(
        200, "Hessian-vector product budget of each layer's top eigenvalue (Lanczos)", at_least=1
    )
    layer_tol: float = layers(
        1e-4, "target relative residual of each layer's top eigenpair", above=0
    )
    layer_which: str = layers(
        "LM",
        "each layer's top eigenvalue: largest magnitude or largest algebraic",
        choices=("LM", "LA"),
    )

    def recorded(self) -> tuple[str, ...]:
        """Every setting but the per-layer ones, which only a per-layer run records."""
        names = super().recorded()
        if self.per_layer:
            return names
        return tuple(name for name in names if not name.startswith(("per_layer", "layer_")))
