"""The settings of the Hessian stage (``losstopo hessian``, ``hessian.nc``)."""

from __future__ import annotations

from dataclasses import dataclass

from losstopo.settings.record import SEED, StageSettings, option
from losstopo.settings.setting import REQUIRED


@dataclass(frozen=True, kw_only=True)
class HessianSettings(StageSettings, section="hessian"):
    """How many eigenpairs, and how the eigensolver finds them. Each value is recorded in
    ``hessian.nc`` (``max_iter`` as 0 where Lanczos, which does not use it, ran)."""

    top_k: int = option(REQUIRED, "number of eigenpairs", at_least=1, config=None)
    method: str = option(
        "lanczos",
        "lanczos (thick restart, full re-orthogonalisation) or power "
        "(PyHessian's power iteration with deflation)",
        choices=("lanczos", "power"),
    )
    which: str = option(
        "LM", "largest magnitude (as PyHessian) or largest algebraic", choices=("LM", "LA")
    )
    tol: float = option(1e-4, "target relative residual ||Hv - lv||/|l|", above=0, attr="tolerance")
    seed: int = option(0, "start-vector seed", **SEED)
    max_hvp: int = option(1000, "Hessian-vector product budget of Lanczos", at_least=1)
    max_iter: int = option(100, "power iterations per pair", at_least=1, config=None)
