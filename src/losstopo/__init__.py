"""losstopo: topological landscape profiles of neural-network loss functions.

Reproduces Geniesse et al., "Visualizing Loss Functions as Topological Landscape Profiles"
(arXiv 2411.12136) and applies the same analysis to any PyTorch model:

- ``Objective.from_module(model, loss_fn, (inputs, targets))`` — the loss on a fixed batch
  as a pure function of the parameters (BatchNorm in eval mode).
- ``hessian_eigenpairs(objective, k)`` — top-k Hessian eigenpairs (exact HVPs, Lanczos).
- ``hessian_trace(objective)`` — Hutchinson's trace estimate with its standard error.
- ``spectral_density(objective)`` — the eigenvalue spectral density by stochastic Lanczos
  quadrature: raw nodes and weights per run, and the smoothed density.
- ``layer_curvature(objective)`` — top eigenvalue and trace (with its standard error) of
  each parameter tensor's (or module's, or named group's) diagonal Hessian block.
- ``normalized_directions(objective, vectors)`` — scale directions against θ (layer/filter).
- ``random_directions(objective, n, seed)`` — filter-normalised random directions.
- ``direction_between(objective, other_params)`` — the direction to another checkpoint.
- ``sample_landscape(objective, directions, resolution, distance)`` — the loss on the
  grid θ + Σ aᵢ dᵢ as an xarray Dataset (the contents of ``landscape.nc``).
- ``sample_scattered_landscape(objective, directions, n_points=, distance=)`` — the loss
  at scattered (Sobol or random) points of [−distance, distance]ⁿ, for n beyond 4.
- ``merge_tree(landscape)`` — the sub-level-set merge tree (``.pairs``; its ``topology.nc``
  dataset is ``losstopo.io.topology_file.tree_dataset(tree)``).
- ``landscape_profile(tree)`` — the topological landscape profile as polygons and markers.
- ``plot_profile(profile_or_tree)`` — draw a profile with matplotlib.
"""

from losstopo._version import __version__

# The public API is imported on first use (PEP 562), so ``import losstopo`` — and every
# command-line job that needs no torch — starts without importing torch or matplotlib.
_API = {
    "direction_between": "losstopo.api",
    "hessian_eigenpairs": "losstopo.api",
    "hessian_trace": "losstopo.api",
    "spectral_density": "losstopo.api",
    "layer_curvature": "losstopo.api",
    "landscape_profile": "losstopo.api",
    "merge_tree": "losstopo.api",
    "normalized_directions": "losstopo.api",
    "plot_profile": "losstopo.api",
    "random_directions": "losstopo.api",
    "sample_landscape": "losstopo.api",
    "sample_scattered_landscape": "losstopo.api",
    "Objective": "losstopo.objective",
}


def __getattr__(name: str):
    if name in _API:
        import importlib

        value = getattr(importlib.import_module(_API[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'losstopo' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_API])


__all__ = [
    "Objective",
    "__version__",
    "direction_between",
    "hessian_eigenpairs",
    "hessian_trace",
    "landscape_profile",
    "layer_curvature",
    "merge_tree",
    "normalized_directions",
    "plot_profile",
    "random_directions",
    "sample_landscape",
    "sample_scattered_landscape",
    "spectral_density",
]
