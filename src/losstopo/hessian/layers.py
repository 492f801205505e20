"""Curvature of each layer on its own: the diagonal blocks of the Hessian.

The block ``H_ll`` of a group ``l`` of parameters (one tensor, one module's tensors, or any
named set) is the Hessian of the loss as a function of that group alone, every other
parameter held at θ. Its top eigenvalue is the sharpest direction inside the layer, its trace
the layer's total curvature; together they say which layers the whole Hessian's spectrum
comes from. Both need only products with the full Hessian:

- :class:`BlockOperator` — ``v ↦ H_ll v``: ``v`` placed on the block's coordinates (zero
  elsewhere), one full Hessian-vector product, the block's rows of the result.
- :func:`block_traces` — Hutchinson's estimator for every block from the same probes: with a
  full Rademacher probe ``z``, ``z_lᵀ(Hz)_l`` has mean ``tr(H_ll)`` (``E[zᵢzⱼ] = δᵢⱼ``), so one
  product serves all blocks, and the blocks' samples add up to the probe's ``zᵀHz`` exactly:
  the per-layer traces sum to the whole-Hessian estimate of the same seed. The price is
  variance from the coupling to the other blocks: ``Var = Σ_{i<j∈l} 4H²ᵢⱼ + Σ_{i∈l, j∉l} H²ᵢⱼ``
  per sample, against the first term alone for probes on the block, which would cost one
  product per block and probe.
- :func:`layer_curvature` — both for each group, the top eigenvalue by Lanczos on the block
  operator.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from losstopo.errors import LosstopoError
from losstopo.hessian.curvature import LinearOperator, rademacher
from losstopo.hessian.solvers import WHICH, EigenResult, lanczos

GROUPINGS = ("tensor", "module")


@dataclass(frozen=True)
class ParameterGroup:
    """A named set of parameter tensors and the flat coordinates they occupy in θ."""

    name: str
    parameters: tuple[str, ...]
    index: torch.Tensor  # int64 positions in the flat vector, in θ's order

    @property
    def size(self) -> int:
        return int(self.index.numel())


def parameter_groups(
    shapes: Mapping[str, Sequence[int]],
    groups: str | Mapping[str, Sequence[str]] | None = None,
) -> list[ParameterGroup]:
    """The groups of θ's tensors (``shapes``: name → shape, in θ's order).

    ``None`` or ``"tensor"``: one group per tensor. ``"module"``: one per module, the
    tensors whose names share everything up to the last dot (``0.weight`` and ``0.bias``
    form ``0``). A mapping names the groups itself (group → tensor names); a tensor may be in
    at most one group, and tensors in none are left out.
    """
    offsets: dict[str, torch.Tensor] = {}
    start = 0
    for name, shape in shapes.items():
        size = math.prod(shape)
        offsets[name] = torch.arange(start, start + size, dtype=torch.int64)
        start += size
    if groups is None or groups == "tensor":
        named: dict[str, list[str]] = {name: [name] for name in shapes}
    elif groups == "module":
        named = {}
        for name in shapes:
            named.setdefault(name.rpartition(".")[0] or name, []).append(name)
    elif isinstance(groups, Mapping):
        named = _checked_groups(groups, list(shapes))
    else:
        raise LosstopoError(
            f"groups must be one of {', '.join(GROUPINGS)} or a mapping of group names to "
            f"parameter names, got {groups!r}"
        )
    return [
        ParameterGroup(name, tuple(members), torch.cat([offsets[m] for m in members]))
        for name, members in named.items()
    ]


def _checked_groups(groups: Mapping[str, Sequence[str]], names: list[str]) -> dict[str, list]:
    """User-named groups as lists of known tensor names, each tensor in one group at most."""
    if not groups:
        raise LosstopoError("groups is an empty mapping: name at least one group")
    owner: dict[str, str] = {}
    checked: dict[str, list[str]] = {}
    for group, members in groups.items():
        if not isinstance(group, str) or not group:
            raise LosstopoError(f"a group name must be a non-empty string, got {group!r}")
        if isinstance(members, str) or not members:
            raise LosstopoError(f"group {group!r} must list one or more parameter names")
        for member in members:
            if member not in names:
                raise LosstopoError(
                    f"group {group!r} names {member!r}, which is not a parameter "
                    f"(parameters: {', '.join(names[:6])}{', …' if len(names) > 6 else ''})"
                )
            if owner.get(member) == group:
                raise LosstopoError(f"group {group!r} lists parameter {member!r} twice")
            if member in owner:
                raise LosstopoError(
                    f"parameter {member!r} is in both group {owner[member]!r} and {group!r}"
                )
            owner[member] = group
        # θ's order within a group, so a group's coordinates do not depend on how it was listed
        checked[group] = sorted(members, key=names.index)
    return checked


class BlockOperator:
    """``v ↦ H_ll v`` for one group: a full Hessian-vector product of ``v`` placed on the
    group's coordinates, restricted to them. Counts its own products."""

    def __init__(self, operator: LinearOperator, group: ParameterGroup):
        self.operator = operator
        self.index = group.index.to(operator.device)
        self.n = group.size
        self.dtype = operator.dtype
        self.device = operator.device
        self.count = 0

    @property
    def mode(self) -> str:
        """The full operator's HVP mode, recorded with the eigenpairs."""
        return str(getattr(self.operator, "mode", "given operator"))

    def __call__(self, v: torch.Tensor) -> torch.Tensor:
        full = torch.zeros(self.operator.n, dtype=self.dtype, device=self.device)
        full[self.index] = v.to(self.dtype)
        self.count += 1
        return self.operator(full)[self.index]


@dataclass
class BlockTraces:
    """Hutchinson estimates of every block's trace from shared probes."""

    estimates: np.ndarray  # (groups,)
    standard_errors: np.ndarray  # (groups,) sample std over probes / √probes
    samples: np.ndarray  # (probes, groups): z_lᵀ(Hz)_l; each row sums to the probe's zᵀHz
    seed: int


@dataclass(frozen=True)
class LayerSearch:
    """How every block is measured: its top eigenpair by Lanczos (``which``, true relative
    residual ``tol``, at most ``max_hvps`` products, start vector of ``seed``), and its trace
    from ``probes`` Rademacher probes of ``seed`` shared by all blocks."""

    seed: int = 0
    probes: int = 30
    which: str = "LM"
    tol: float = 1e-4
    max_hvps: int = 200

    def __post_init__(self) -> None:
        faults = [
            (self.which not in WHICH, f"which must be one of {', '.join(WHICH)}"),
            (not (math.isfinite(self.tol) and self.tol > 0), "tol must be a finite number > 0"),
            (self.max_hvps < 1, "max_hvps must be >= 1"),
            (self.seed < 0, "seed must be >= 0"),
            (self.probes < 2, "probes must be >= 2 (a standard error needs two)"),
        ]
        names = ("which", "tol", "max_hvps", "seed", "probes")
        for (failed, rule), name in zip(faults, names, strict=True):
            if failed:
                raise LosstopoError(f"{rule}, got {getattr(self, name)!r}")


def block_traces(
    operator: LinearOperator, groups: Sequence[ParameterGroup], search: LayerSearch
) -> BlockTraces:
    """Every group's ``tr(H_ll)`` from ``probes`` full Rademacher probes (one product each).

    The probes are those of :func:`~losstopo.hessian.curvature.hutchinson_trace` with the
    same seed (undeflated), so a probe's samples over groups that cover θ add up to that
    function's sample of the probe. A fixed number of probes keeps every estimate unbiased
    (a stopping rule on one block's error would bias the others).
    """
    seed, probes = search.seed, search.probes
    generator = torch.Generator().manual_seed(seed)
    samples = np.zeros((probes, len(groups)))
    indices = [group.index.to(operator.device) for group in groups]
    for row in range(probes):
        z = rademacher(operator.n, generator, operator.dtype, operator.device)
        product = z.double() * operator(z).double()
        for column, index in enumerate(indices):
            samples[row, column] = float(product[index].sum())
    return BlockTraces(
        estimates=samples.mean(axis=0),
        standard_errors=samples.std(axis=0, ddof=1) / math.sqrt(probes),
        samples=samples,
        seed=seed,
    )


def block_top_eigenpair(
    operator: LinearOperator, group: ParameterGroup, search: LayerSearch
) -> EigenResult:
    """The top eigenpair of one group's block by thick-restart Lanczos on
    :class:`BlockOperator` (a block of one coordinate is its single entry, one product)."""
    block = BlockOperator(operator, group)
    if block.n == 1:
        start = time.perf_counter()
        one = torch.ones(1, dtype=block.dtype, device=block.device)
        value = float(block(one)[0])
        return EigenResult(
            eigenvalues=np.array([value]),
            eigenvectors=one[None],
            residuals=np.zeros(1),
            converged=np.ones(1, dtype=bool),
            n_hvp=block.count,
            seconds=time.perf_counter() - start,
            method="lanczos",
            which=search.which,
            tol=search.tol,
            extra={"hvp_mode": block.mode},
        )
    return lanczos(
        block, 1, search.which, search.tol, search.max_hvps, search.seed, show_progress=False
    )


@dataclass
class LayerCurvature:
    """Per group of parameters: the top eigenvalue and the trace of its Hessian block."""

    names: list[str]
    parameters: list[tuple[str, ...]]
    sizes: np.ndarray  # coordinates per group
    top_eigenvalues: np.ndarray
    top_residuals: np.ndarray  # true relative residual ‖H_ll v − λv‖/|λ| of each pair
    top_converged: np.ndarray  # residual ≤ tol
    top_n_hvps: np.ndarray  # products each group's Lanczos run took
    traces: np.ndarray
    trace_standard_errors: np.ndarray
    trace_samples: np.ndarray  # (probes, groups)
    search: LayerSearch  # how the blocks were measured
    n_hvps: int  # all products: the probes and every Lanczos run
    seconds: float

    @property
    def seed(self) -> int:
        return self.search.seed

    @property
    def which(self) -> str:
        return self.search.which

    @property
    def n_probes(self) -> int:
        return int(self.trace_samples.shape[0])


def layer_curvature(
    operator: LinearOperator, groups: Sequence[ParameterGroup], search: LayerSearch
) -> LayerCurvature:
    """Top eigenvalue and trace of each group's diagonal Hessian block, measured as
    ``search`` says. Costs ``search.probes`` products plus each group's Lanczos run."""
    if not groups:
        raise LosstopoError("no parameter groups given")
    start = time.perf_counter()
    traces = block_traces(operator, groups, search)
    pairs = [block_top_eigenpair(operator, group, search) for group in groups]
    lanczos_hvps = np.array([pair.n_hvp for pair in pairs], dtype=np.int64)
    return LayerCurvature(
        names=[group.name for group in groups],
        parameters=[group.parameters for group in groups],
        sizes=np.array([group.size for group in groups], dtype=np.int64),
        top_eigenvalues=np.array([float(pair.eigenvalues[0]) for pair in pairs]),
        top_residuals=np.array([float(pair.residuals[0]) for pair in pairs]),
        top_converged=np.array([bool(pair.converged[0]) for pair in pairs]),
        top_n_hvps=lanczos_hvps,
        traces=traces.estimates,
        trace_standard_errors=traces.standard_errors,
        trace_samples=traces.samples,
        search=search,
        n_hvps=search.probes + int(lanczos_hvps.sum()),
        seconds=time.perf_counter() - start,
    )
