"""Calibrating a landscape's topology against its null model, the Taylor quadratic at θ.

A landscape file stores the exact second-order Taylor model of its loss in its own
coordinates, q(α) = L(θ) + gᵀα + ½ αᵀKα (``losstopo.landscape.taylor``). A quadratic has at
most one minimum, so every further minimum its merge tree shows on the landscape's points and
graph is made by the sampling, the graph or the box. The topology stage builds the null's tree
on the same vertices and graph as the loss's and reports real, null and excess counts, and
how far the loss departs from q (its anharmonicity).

Scattered samples also take their neighbourhoods from q: k-NN in coordinates whitened by
|K| (``curvature_whitening``), where q is isotropic, so that a narrow valley of the loss does
not leave a sample with no lower neighbour among its k nearest (Euclidean) ones. numpy only:
the topology stage never imports torch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from losstopo.errors import LosstopoError

# Eigenvalues of |K| below this fraction of the largest are raised to it before whitening: a
# flat or nearly flat direction would otherwise collapse to a point and join every sample.
WHITENING_FLOOR = 1e-2
# The loss departs from q at a point where they differ by more than a factor of 2.
ANHARMONIC_DECADES = float(np.log10(2.0))
KNN_METRICS = ("curvature", "euclidean")
# counts reported for the loss, its null model and their difference (real - null)
CALIBRATED_COUNTS = (
    "n_minima_raw",
    "n_saddles_raw",
    "n_minima_above",
    "n_saddles_above",
    "n_minima_above_log",
    "n_saddles_above_log",
)


@dataclass
class TaylorModel:
    """q(α) = center_loss + gᵀα + ½ αᵀKα in a landscape's coordinates α."""

    center_loss: float
    gradient: np.ndarray  # (n,)
    hessian: np.ndarray  # (n, n), symmetric

    def __post_init__(self) -> None:
        self.gradient = np.asarray(self.gradient, dtype=np.float64).reshape(-1)
        self.hessian = np.asarray(self.hessian, dtype=np.float64)
        n = self.gradient.size
        if self.hessian.shape != (n, n):
            raise LosstopoError(
                f"Taylor model: gradient has {n} entries but the Hessian block has shape "
                f"{self.hessian.shape}"
            )
        values = [self.center_loss, *self.gradient, *self.hessian.ravel()]
        if not np.all(np.isfinite(values)):
            raise LosstopoError("Taylor model has non-finite terms (loss, gradient or Hessian)")
        self.hessian = 0.5 * (self.hessian + self.hessian.T)

    @property
    def dims(self) -> int:
        return int(self.gradient.size)

    def __call__(self, alphas: np.ndarray) -> np.ndarray:
        """q at the rows of ``alphas`` (N × n)."""
        alphas = np.asarray(alphas, dtype=np.float64)
        quadratic = np.einsum("ni,ij,nj->n", alphas, self.hessian, alphas)
        return self.center_loss + alphas @ self.gradient + 0.5 * quadratic

    @property
    def curvatures(self) -> np.ndarray:
        """Eigenvalues of K, ascending."""
        return np.linalg.eigvalsh(self.hessian)


def curvature_whitening(hessian: np.ndarray, floor: float = WHITENING_FLOOR) -> np.ndarray:
    """W (n × n) with β = W α the coordinates in which ½ αᵀ|K|α = ½ |β|²: K = VΛVᵀ,
    W = diag(√max(|λ|, floor·max|λ|)) Vᵀ. A zero K gives the identity (nothing to whiten)."""
    hessian = np.asarray(hessian, dtype=np.float64)
    eigenvalues, vectors = np.linalg.eigh(0.5 * (hessian + hessian.T))
    magnitude = np.abs(eigenvalues)
    top = float(magnitude.max()) if magnitude.size else 0.0
    if not np.isfinite(top):
        raise LosstopoError("cannot whiten by a Hessian block with non-finite entries")
    if top == 0.0:
        return np.eye(len(hessian))
    scale = np.sqrt(np.maximum(magnitude, floor * top))
    return (vectors * scale).T


def knn_coordinates(
    points: np.ndarray, model: TaylorModel | None, metric: str, source: str
) -> np.ndarray:
    """The coordinates the k-NN graph of scattered ``points`` is built in: as sampled
    (``euclidean``, the paper's) or whitened by the Taylor Hessian of ``model``
    (``curvature``); ``source`` names the landscape in errors."""
    if metric not in KNN_METRICS:
        raise LosstopoError(f"unknown k-NN metric {metric!r} (choose curvature or euclidean)")
    if metric == "euclidean":
        return points
    if model is None:
        raise LosstopoError(
            f"{source} has no Taylor model to whiten its samples by; sample it again with this "
            "version, or use the euclidean metric (--knn-metric euclidean)"
        )
    return points @ curvature_whitening(model.hessian).T


def null_tree_values(loss: np.ndarray, null: np.ndarray) -> np.ndarray:
    """The null model's values for its merge tree: +∞ where the loss is not finite (the same
    vertices take part in both trees), and clipped below at the loss's smallest finite value,
    so that where q dips to zero or below its log persistence is not measured from a shift
    to 1e-12 but in the loss's own decades (q ≤ 0 is where the quadratic has failed)."""
    finite = np.isfinite(loss)
    floor = float(np.min(loss[finite])) if finite.any() else -np.inf
    return np.where(finite, np.maximum(null, floor), np.inf)


def anharmonicity(
    loss: np.ndarray, null: np.ndarray, decades: float = ANHARMONIC_DECADES
) -> dict[str, float]:
    """How far the loss departs from its Taylor model over the finite vertices.

    ``anharmonic_fraction``: the share where |log10 L − log10 q| > ``decades``, or where
    either is ≤ 0 (a quadratic that predicts a non-positive loss has failed there);
    ``taylor_log_error_median``: the median of |log10 L − log10 q| where both are positive.
    """
    loss = np.asarray(loss, dtype=np.float64).ravel()
    null = np.asarray(null, dtype=np.float64).ravel()
    finite = np.isfinite(loss)
    if not finite.any():
        return {"anharmonic_fraction": float("nan"), "taylor_log_error_median": float("nan")}
    loss, null = loss[finite], null[finite]
    positive = (loss > 0) & (null > 0)
    error = np.abs(np.log10(loss[positive]) - np.log10(null[positive]))
    departing = np.count_nonzero(error > decades) + np.count_nonzero(~positive)
    return {
        "anharmonic_fraction": float(departing / loss.size),
        "taylor_log_error_median": float(np.median(error)) if error.size else float("nan"),
    }
