"""``curvature.nc``: the Hessian trace and eigenvalue spectral density of a checkpoint.

The raw numbers are stored so that everything can be recomputed: every Hutchinson sample
``zᵀHz``, and the SLQ quadrature nodes and weights of every run (one row per run, NaN-padded
where a run found an invariant subspace early). The smoothed density on its grid is stored
beside them for plotting; its kernel width and grid say how it was made.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from losstopo.io.netcdf import open_checked, write_dataset_atomic

if TYPE_CHECKING:
    import xarray as xr

    from losstopo.hessian.curvature import (
        NegativeMass,
        SpectralDensity,
        SpectralQuadrature,
        TraceEstimate,
    )

VARIABLES = ["trace_samples", "slq_nodes", "slq_weights", "esd_grid", "esd_density"]


def curvature_dataset(
    trace: TraceEstimate,
    quadrature: SpectralQuadrature,
    density: SpectralDensity,
    negative_mass: NegativeMass,
    attrs: dict[str, Any],
) -> xr.Dataset:
    """The trace estimate with its samples, the SLQ nodes and weights, and the smoothed ESD."""
    import xarray as xr

    return xr.Dataset(
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
