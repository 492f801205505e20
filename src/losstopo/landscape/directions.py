"""Landscape directions: Hessian eigenvectors normalised against the trained weights (§6.3).

Per-tensor scaling makes the directions comparable across layers of different scale but
breaks their orthogonality, so the cosines between normalised directions are reported.
"""

from __future__ import annotations

import json

import numpy as np
import torch
import xarray as xr

from losstopo.errors import LosstopoError
from losstopo.objective import Objective, Params

NORMALIZATIONS = ("layer", "filter", "none")


def _scaled(d: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """``d · ‖reference‖/‖d‖``; a zero ``d`` stays zero instead of becoming NaN."""
    norm = d.norm()
    return d * (reference.norm() / norm) if norm > 0 else torch.zeros_like(d)


def check_direction(vector: np.ndarray, what: str) -> None:
    """A direction must be finite and non-zero: NaN would be silently zeroed by the scaling,
    and a zero direction gives a flat landscape."""
    if not np.isfinite(vector).all():
        bad = int(np.count_nonzero(~np.isfinite(vector)))
        raise LosstopoError(f"{what} has {bad} non-finite entries")
    if not np.any(vector):
        raise LosstopoError(f"{what} is zero everywhere")


def normalize_direction(direction: Params, theta: Params, mode: str) -> Params:
    """Scale ``direction`` against ``θ``: per tensor (``layer``), per output filter (``filter``,
    first axis of tensors with ≥ 2 dims; 1-D tensors per tensor) or globally (``none``)."""
    if mode == "layer":
        return {name: _scaled(d, theta[name]) for name, d in direction.items()}
    if mode == "filter":
        out: Params = {}
        for name, d in direction.items():
            if d.dim() >= 2:
                out[name] = torch.stack([_scaled(d[i], theta[name][i]) for i in range(d.shape[0])])
            else:
                out[name] = _scaled(d, theta[name])
        return out
    if mode == "none":
        d_norm = torch.sqrt(sum((d**2).sum() for d in direction.values()))
        t_norm = torch.sqrt(sum((t**2).sum() for t in theta.values()))
        scale = t_norm / d_norm if d_norm > 0 else torch.zeros(())
        return {name: d * scale for name, d in direction.items()}
    raise LosstopoError(f"unknown normalization {mode!r} (choose {', '.join(NORMALIZATIONS)})")


def cosine_gram(directions: torch.Tensor) -> np.ndarray:
    """Cosines between the rows of ``directions`` (n × P)."""
    d = directions.double()
    unit = d / d.norm(dim=1, keepdim=True).clamp_min(np.finfo(float).tiny)
    return (unit @ unit.T).cpu().numpy()


def normalized_directions(
    objective: Objective,
    vectors: torch.Tensor | list[Params],
    *,
    normalization: str = "layer",
    source: str = "",
) -> torch.Tensor:
    """Scale directions (rows of an n × P tensor, or parameter dicts) against θ; each must be
    finite and non-zero (``source`` names where they came from in errors)."""
    if normalization not in NORMALIZATIONS:
        raise LosstopoError(
            f"unknown normalization {normalization!r} (choose {', '.join(NORMALIZATIONS)})"
        )
    theta = objective.params
    reference = objective.theta()
    rows = []
    for vector in vectors:
        direction = (
            vector
            if isinstance(vector, dict)
            else objective.unflatten(
                torch.as_tensor(vector, dtype=reference.dtype, device=reference.device)
            )
        )
        check_direction(
            objective.flatten(direction).detach().cpu().double().numpy(),
            f"direction {len(rows)}" + (f" of {source}" if source else ""),
        )
        rows.append(objective.flatten(normalize_direction(direction, theta, normalization)))
    return torch.stack(rows)


def hessian_directions(
    hessian: xr.Dataset, objective: Objective, dims: int, normalization: str, path: str = ""
) -> tuple[torch.Tensor, np.ndarray]:
    """The first ``dims`` eigenvectors of ``hessian.nc``, normalised, as an (n × P) tensor.

    Checks that the directions belong to a model of the objective's architecture.
    """
    available = int(hessian.sizes["direction"])
    if not 1 <= dims <= available:
        raise LosstopoError(
            f"--dims {dims} needs {dims} directions but {path or 'the directions file'} "
            f"holds {available}"
        )
    names = json.loads(hessian.attrs.get("parameter_names", "[]"))
    shapes = json.loads(hessian.attrs.get("parameter_shapes", "[]"))
    if names != objective.parameter_names or shapes != objective.parameter_shapes:
        raise LosstopoError(
            f"directions in {path or 'the directions file'} were computed for different "
            "parameters (names or shapes differ from the checkpoint's model)"
        )
    source = path or "the directions file"
    raw = np.asarray(hessian.eigenvectors.values[:dims], dtype=np.float64)
    for index, row in enumerate(raw):  # in float64, before any rounding to the objective's
        check_direction(row, f"direction {index} of {source}")
    vectors = normalized_directions(
        objective, torch.as_tensor(raw), normalization=normalization, source=source
    )
    return vectors, np.asarray(hessian.eigenvalues.values[:dims], dtype=np.float64)
