"""The settings of the topology stage (``losstopo topology``, ``topology.nc``): the
neighbourhood graph of the merge tree, and the thresholds of what is stored and counted."""

from __future__ import annotations

from dataclasses import dataclass

from losstopo.settings.record import StageSettings, option


@dataclass(frozen=True, kw_only=True)
class TopologySettings(StageSettings, section="topology"):
    """The graph and the thresholds. ``topology.nc`` records the graph as built (``k``,
    ``symmetrize`` and ``knn_metric`` with their defaults resolved) and each threshold as
    given, beside the absolute threshold it resolves to."""

    connectivity: str = option(
        "full",
        "neighbourhood of a grid vertex: full (3^n-1), freudenthal (2(2^n-1)), axis (2n) or knn",
        choices=("full", "freudenthal", "axis", "knn"),
    )
    k: int | None = option(None, "neighbours for --connectivity knn (default: 4n)", at_least=1)
    # the config has one for grids and one for scattered samples (topology.scattered)
    symmetrize: str | None = option(
        None,
        "k-NN graph symmetrisation (default: mutual on a grid, as the paper; union for "
        "scattered samples)",
        choices=("mutual", "union"),
        config=None,
    )
    knn_metric: str = option(
        "curvature",
        "distance of the k-NN graph of scattered samples: curvature (coordinates "
        "whitened by the landscape's Taylor Hessian |K|, where its null model is isotropic) "
        "or euclidean (the paper's plain k-NN); grids use their integer indices",
        choices=("curvature", "euclidean"),
        config="topology.scattered.metric",
    )
    persistence_threshold: float = option(
        0.0,
        "remove branches with smaller persistence from the stored tree (default: 0, keep all)",
        at_least=0,
        attr="persistence_threshold_given",
    )
    relative: bool = option(
        False,
        "read --persistence-threshold as a fraction of the value range",
        attr="persistence_threshold_relative",
    )
    summary_threshold: float = option(
        0.01,
        "relative persistence above which minima and saddles are counted in the summaries",
        at_least=0,
        below=1,
        attr="summary_threshold_relative",
    )
    # 0.3 decades of log-loss persistence is a factor of 2
    log_threshold: float = option(
        0.3,
        "persistence on log10 loss, in decades, above which minima and saddles are "
        "counted as significant in the shape descriptors",
        at_least=0,
        attr="log_threshold_decades",
    )
