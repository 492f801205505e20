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
    theta = objective.params
    dtype, device = next(iter(theta.values())).dtype, next(iter(theta.values())).device
    raw = np.asarray(hessian.eigenvectors.values[:dims], dtype=np.float64)
    for index, row in enumerate(raw):
        check_direction(row, f"direction {index} of {path or 'the directions file'}")
    vectors = torch.as_tensor(raw, dtype=dtype, device=device)
    rows = [
        objective.flatten(normalize_direction(objective.unflatten(v), theta, normalization))
        for v in vectors
    ]
    return torch.stack(rows), np.asarray(hessian.eigenvalues.values[:dims], dtype=np.float64)
