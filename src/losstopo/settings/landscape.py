"""The settings of the landscape stage (``losstopo landscape``, ``landscape.nc``): a grid or
scattered samples around theta along Hessian directions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from losstopo.landscape import DEFAULT_MEMORY_BUDGET_MB
from losstopo.settings.record import SEED, StageSettings, option
from losstopo.settings.setting import REQUIRED, SettingError

GRID = "grid"
# the config's grids and scattered landscapes are lists (``[]``: each item)
GRIDS = "landscape.grids[]."
SCATTERED = "landscape.scattered[]."
# the settings that only one layout takes
SCATTERED_SETTINGS = ("n_points", "sampling", "seed", "center_points", "center_scale")
GRID_SETTINGS = ("resolution", "tile", "tiles")


@dataclass(frozen=True, kw_only=True)
class LandscapeSettings(StageSettings, section="landscape"):
    """Where the loss is sampled and how it is evaluated. ``landscape.nc`` records the
    settings of its layout (a grid's resolution, or the scattered samples'), and its tiling
    where it is one tile of several."""

    dims: int = option(REQUIRED, "landscape dimension n", at_least=1, config=GRIDS)
    resolution: int | None = option(
        None, "points per axis of a grid (odd: theta is the centre)", at_least=1, config=GRIDS
    )
    distance: float = option(
        REQUIRED, "largest relative displacement along each direction", above=0
    )
    sampling: str = option(
        GRID,
        "a grid of --resolution points per axis, or --n-points scattered points "
        "(scrambled Sobol or seeded uniform, point 0 = theta)",
        choices=(GRID, "sobol", "random"),
        config=None,
    )
    n_points: int | None = option(
        None, "scattered points, theta included", at_least=1, attr="cube_points", config=SCATTERED
    )
    seed: int = option(0, "seed of the scattered points", **SEED, config=SCATTERED)
    center_points: int = option(
        0,
        "further scattered points in the inner cube around theta, so that theta's basin "
        "is resolved (its neighbours in the cube are decades higher)",
        at_least=0,
        config=SCATTERED,
    )
    center_scale: float = option(
        0.1,
        "half-width of that inner cube as a fraction of --distance",
        above=0,
        below=1,
        config=SCATTERED,
    )
    normalization: str = option(
        "layer", "direction scaling against theta", choices=("layer", "filter", "none")
    )
    null_model: bool = option(
        True,
        "store the landscape's null model, the second-order Taylor model of the loss at "
        "theta in its coordinates (one gradient and n Hessian-vector products)",
        attr=None,
        config=None,
    )
    chunk_size: int | None = option(
        None,
        "grid points per batched call (default: from --memory-budget-mb)",
        at_least=1,
        config=None,
    )
    memory_budget_mb: float = option(
        DEFAULT_MEMORY_BUDGET_MB,
        "memory for one batched call in MiB",
        above=0,
        aliases=("--memory-budget",),
    )
    tiles: int = option(1, "split the grid into this many tiles along its first axis", at_least=1)
    tile: int = option(0, "which tile to compute, 0-based", config=None)

    @property
    def scattered(self) -> bool:
        return self.sampling != GRID

    def check(self) -> None:
        if not self.scattered and self.resolution is None:
            raise SettingError(f"--resolution is required for --sampling {GRID}")
        if self.scattered and self.n_points is None:
            raise SettingError(f"--n-points is required for --sampling {self.sampling}")
        if self.scattered and self.tiles > 1:
            raise SettingError("tiles split a grid; a scattered landscape is one job")

    def layout(self) -> dict[str, Any]:
        """The settings that only this layout's sampler takes, by name."""
        names = SCATTERED_SETTINGS if self.scattered else GRID_SETTINGS
        return {name: getattr(self, name) for name in names}

    def recorded(self) -> tuple[str, ...]:
        """The settings of this layout, a grid's tiling only where it is one tile of several
        (the chunk size is recorded as the one used)."""
        untiled = ("tile", "tiles") if self.tiles == 1 else ()
        layout = [name for name in self.layout() if name not in untiled]
        return ("dims", *layout, "distance", "normalization", "memory_budget_mb")
