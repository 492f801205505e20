"""``curvature.nc``: the Hessian trace and eigenvalue spectral density of a checkpoint.

The raw numbers are stored so that everything can be recomputed: every Hutchinson sample
``zᵀHz``, and the SLQ quadrature nodes and weights of every run (one row per run, NaN-padded
where a run found an invariant subspace early). The smoothed density on its grid is stored
beside them for plotting; its kernel width and grid say how it was made. A file computed
with per-layer curvature also holds, over its ``layer`` dimension (coordinate: the layer
names), each layer's top eigenvalue and trace of its diagonal Hessian block, with the
trace's samples; a file without has no ``layer`` dimension at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from losstopo.errors import LosstopoError
from losstopo.io.netcdf import open_checked, write_dataset_atomic

if TYPE_CHECKING:
    import xarray as xr

    from losstopo.hessian.curvature import (
        NegativeMass,
        SpectralDensity,
        SpectralQuadrature,
        TraceEstimate,
    )
    from losstopo.hessian.layers import LayerCurvature

VARIABLES = ["trace_samples", "slq_nodes", "slq_weights", "esd_grid", "esd_density"]


def curvature_dataset(
    trace: TraceEstimate,
    quadrature: SpectralQuadrature,
    density: SpectralDensity,
    negative_mass: NegativeMass,
    attrs: dict[str, Any],
    layers: LayerCurvature | None = None,
) -> xr.Dataset:
    """The trace estimate with its samples, the SLQ nodes and weights, and the smoothed ESD;
    with ``layers``, the per-layer curvature too."""
    import xarray as xr

    dataset = xr.Dataset(
        {
            "trace_samples": (
                "probe",
                trace.samples,
                {"long_name": "z^T H z per Rademacher probe (deflated operator if deflated)"},
            ),
            "slq_nodes": (
                ("run", "node"),
                quadrature.nodes,
                {"long_name": "Gauss quadrature nodes (Ritz values) per SLQ run"},
            ),
            "slq_weights": (
                ("run", "node"),
                quadrature.weights,
                {"long_name": "Gauss quadrature weights per SLQ run (each row sums to 1)"},
            ),
            "slq_steps": ("run", quadrature.steps, {"long_name": "Lanczos steps of each run"}),
            "esd_grid": ("grid", density.grid, {"long_name": "eigenvalue"}),
            "esd_density": (
                "grid",
                density.density,
                {"long_name": "smoothed eigenvalue spectral density (per unit eigenvalue)"},
            ),
        },
        attrs={
            "hessian_trace": trace.estimate,
            "hessian_trace_se": trace.standard_error,
            "trace_method": trace.method,
            "trace_stopped": trace.stopped,
            "trace_n_probes": trace.n_probes,
            "trace_n_hvps": trace.n_hvps,
            "trace_seed": trace.seed,
            "trace_seconds": trace.seconds,
            **{f"trace_{key}": value for key, value in trace.extra.items()},
            "slq_runs": int(quadrature.nodes.shape[0]),
            "slq_n_hvps": quadrature.n_hvps,
            "slq_seed": quadrature.seed,
            "slq_start": quadrature.start,
            "slq_seconds": quadrature.seconds,
            "n_parameters": quadrature.n,
            "esd_width_grid_steps": density.width,
            "esd_negative_mass": negative_mass.estimate,
            "esd_negative_mass_lower": negative_mass.lower,
            "esd_negative_mass_upper": negative_mass.upper,
            "esd_negative_tolerance": negative_mass.tolerance,
            **attrs,
        },
    )
    return dataset if layers is None else with_layers(dataset, layers)


LAYER_VARIABLES = ["layer_size", "layer_top_eigenvalue", "layer_trace", "layer_trace_se"]


def with_layers(dataset: xr.Dataset, layers: LayerCurvature) -> xr.Dataset:
    """``dataset`` with the per-layer curvature over a ``layer`` dimension."""
    names = np.array(layers.names, dtype=object)
    variables = {
        "layer_parameters": (
            "layer",
            np.array([",".join(group) for group in layers.parameters], dtype=object),
            {"long_name": "parameter tensors of each layer (comma-separated)"},
        ),
        "layer_size": ("layer", layers.sizes, {"long_name": "parameters of each layer"}),
        "layer_top_eigenvalue": (
            "layer",
            layers.top_eigenvalues,
            {"long_name": f"top eigenvalue (which={layers.which}) of the layer's Hessian block"},
        ),
        "layer_top_residual": (
            "layer",
            layers.top_residuals,
            {"long_name": "true relative residual ||H_ll v - l v|| / |l| of the top pair"},
        ),
        "layer_top_converged": (
            "layer",
            layers.top_converged.astype(np.int8),
            {"long_name": "1 where the top pair's residual is within layer_tol"},
        ),
        "layer_top_n_hvps": (
            "layer",
            layers.top_n_hvps,
            {"long_name": "Hessian-vector products of the layer's Lanczos run"},
        ),
        "layer_trace": (
            "layer",
            layers.traces,
            {"long_name": "Hutchinson estimate of the trace of the layer's Hessian block"},
        ),
        "layer_trace_se": (
            "layer",
            layers.trace_standard_errors,
            {"long_name": "standard error of layer_trace"},
        ),
        "layer_trace_samples": (
            ("layer_probe", "layer"),
            layers.trace_samples,
            {"long_name": "z_l^T (H z)_l per shared Rademacher probe z and layer l"},
        ),
    }
    named = dataset.assign_coords(layer=("layer", names, {"long_name": "layer name"}))
    merged = named.assign(variables)
    merged.attrs.update(
        layer_n_probes=layers.n_probes,
        layer_n_hvps=layers.n_hvps,
        layer_seconds=layers.seconds,
        layer_seed=layers.seed,
    )
    return merged


# curvature.nc needs no more than every netCDF file: an atomic write of its dataset
write_curvature = write_dataset_atomic


def read_curvature(path: str | Path) -> xr.Dataset:
    """Open ``curvature.nc`` with its variables checked."""
    return open_checked(path, VARIABLES, "curvature")


@dataclass
class DensityCurve:
    """One checkpoint's smoothed ESD and the numbers a figure's legend states about it."""

    label: str
    grid: np.ndarray
    density: np.ndarray
    trace: float
    trace_se: float
    negative_mass: float
    negative_mass_lower: float
    negative_mass_upper: float


def read_density_curve(path: str | Path, label: str) -> DensityCurve:
    """The smoothed ESD of a ``curvature.nc`` with its trace and negative mass, for plots."""
    dataset = read_curvature(path)
    summary = curvature_summary(dataset.attrs)
    return DensityCurve(
        label=label,
        grid=dataset["esd_grid"].values,
        density=dataset["esd_density"].values,
        trace=summary["hessian_trace"],
        trace_se=summary["hessian_trace_se"],
        negative_mass=summary["esd_negative_mass"],
        negative_mass_lower=summary["esd_negative_mass_lower"],
        negative_mass_upper=summary["esd_negative_mass_upper"],
    )


SUMMARY_COLUMNS = (
    "hessian_trace",
    "hessian_trace_se",
    "esd_negative_mass",
    "esd_negative_mass_lower",
    "esd_negative_mass_upper",
)


def curvature_summary(attrs: dict[str, Any]) -> dict[str, float]:
    """The table columns of a ``curvature.nc``: trace, its standard error, negative mass
    with its bounds."""
    return {key: float(attrs[key]) for key in SUMMARY_COLUMNS}


def empty_summary() -> dict[str, float]:
    return dict.fromkeys(SUMMARY_COLUMNS, np.nan)


def has_layers(dataset: xr.Dataset) -> bool:
    """Whether a ``curvature.nc`` holds per-layer curvature."""
    return "layer" in dataset.sizes and all(name in dataset for name in LAYER_VARIABLES)


@dataclass
class LayerBars:
    """One file's per-layer curvature, for the per-layer figure."""

    label: str
    names: list[str]
    sizes: np.ndarray
    top_eigenvalues: np.ndarray
    traces: np.ndarray
    trace_se: np.ndarray


def read_layer_bars(path: str | Path, label: str) -> LayerBars:
    """The per-layer curvature of a ``curvature.nc``, or one line saying it has none."""
    dataset = read_curvature(path)
    if not has_layers(dataset):
        raise LosstopoError(
            f"curvature file {path} has no per-layer curvature (compute it with "
            "losstopo curvature --per-layer)"
        )
    return LayerBars(
        label=label,
        names=[str(name) for name in dataset["layer"].values],
        sizes=dataset["layer_size"].values,
        top_eigenvalues=dataset["layer_top_eigenvalue"].values,
        traces=dataset["layer_trace"].values,
        trace_se=dataset["layer_trace_se"].values,
    )


def layer_columns(dataset: xr.Dataset) -> dict[str, float]:
    """Table columns of a file's per-layer curvature (``layer_trace:NAME``,
    ``layer_trace_se:NAME``, ``layer_top_eigenvalue:NAME``); none for a file without."""
    if not has_layers(dataset):
        return {}
    columns: dict[str, float] = {}
    names = [str(name) for name in dataset["layer"].values]
    for variable in ("layer_trace", "layer_trace_se", "layer_top_eigenvalue"):
        values = dataset[variable].values
        columns.update({f"{variable}:{n}": float(v) for n, v in zip(names, values, strict=True)})
    return columns
