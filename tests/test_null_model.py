"""The null model of a landscape (the Taylor quadratic at θ in its own coordinates) and the
calibrated counts: the stored g and K against finite differences of the landscape and a
dense Hessian, real = null on a loss that is exactly quadratic, and the curvature-whitened
k-NN graph of scattered samples against the plain one on anisotropic quadratics."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from losstopo.api import sample_landscape, sample_scattered_landscape
from losstopo.errors import LosstopoError
from losstopo.io.landscape_file import write_landscape
from losstopo.objective import Objective
from losstopo.stages import compute_topology
from losstopo.topology.mergetree import merge_tree_on_graph
from losstopo.topology.neighbors import knn_graph
from losstopo.topology.null_model import TaylorModel, anharmonicity, curvature_whitening


def _mlp_objective(seed: int = 0) -> Objective:
    """A small tanh MLP with an MSE loss in float64: curved in every direction, not quadratic."""
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(3, 6), nn.Tanh(), nn.Linear(6, 1)).double()
    inputs = torch.randn(20, 3, dtype=torch.float64)
    targets = torch.sin(inputs.sum(dim=1, keepdim=True))
    return Objective.from_module(model, nn.functional.mse_loss, (inputs, targets))


def _quadratic_objective(seed: int = 0) -> Objective:
    """Linear least squares: the loss is exactly quadratic in the parameters."""
    torch.manual_seed(seed)
    model = nn.Linear(4, 2).double()
    inputs = torch.randn(30, 4, dtype=torch.float64) * torch.tensor([1.0, 3.0, 0.3, 1.5])
    targets = torch.randn(30, 2, dtype=torch.float64)
    return Objective.from_module(model, nn.functional.mse_loss, (inputs, targets))


def _directions(objective: Objective, n: int, seed: int = 1) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    raw = torch.randn(n, objective.n_parameters, generator=generator, dtype=torch.float64)
    return raw * (objective.theta().norm() / raw.norm(dim=1, keepdim=True))


def test_stored_taylor_terms_equal_finite_differences_and_the_dense_hessian():
    objective = _mlp_objective()
    directions = _directions(objective, 3)
    data = sample_landscape(objective, directions, resolution=3, distance=0.1)
    g, k = data["taylor_gradient"].values, data["taylor_hessian"].values

    def landscape_at(alpha: np.ndarray) -> float:
        point = objective.theta() + torch.as_tensor(alpha) @ directions
        with torch.no_grad():
            return float(objective.loss_fn(objective.unflatten(point)))

    def central(h: float) -> tuple[np.ndarray, np.ndarray]:
        """First and second central differences of the landscape at α = 0 with step h."""
        n = len(g)
        eye = np.eye(n) * h
        grad = np.array(
            [(landscape_at(eye[i]) - landscape_at(-eye[i])) / (2 * h) for i in range(n)]
        )
        hess = np.empty((n, n))
        for i in range(n):
            for j in range(n):
                hess[i, j] = (
                    landscape_at(eye[i] + eye[j])
                    - landscape_at(eye[i] - eye[j])
                    - landscape_at(-eye[i] + eye[j])
                    + landscape_at(-eye[i] - eye[j])
                ) / (4 * h * h)
        return grad, hess

    # Richardson extrapolation of steps h and h/2 cancels the O(h²) error
    (g1, k1), (g2, k2) = central(2e-3), central(1e-3)
    g_fd, k_fd = (4 * g2 - g1) / 3, (4 * k2 - k1) / 3
    np.testing.assert_allclose(g, g_fd, rtol=1e-6, atol=1e-6 * np.abs(g_fd).max())
    np.testing.assert_allclose(k, k_fd, rtol=1e-6, atol=1e-6 * np.abs(k_fd).max())

    # the dense Hessian of the loss in the parameters, projected on the directions
    dense = torch.autograd.functional.hessian(
        lambda flat: objective.loss_fn(objective.unflatten(flat)), objective.theta()
    )
    projected = (directions @ dense @ directions.T).numpy()
    np.testing.assert_allclose(k, projected, rtol=1e-10, atol=1e-12 * np.abs(projected).max())
    gradient = torch.func.grad(lambda flat: objective.loss_fn(objective.unflatten(flat)))(
        objective.theta()
    )
    np.testing.assert_allclose(g, (directions @ gradient).numpy(), rtol=1e-10, atol=1e-14)
    assert data.attrs["taylor_n_hvp"] == 3 and data.attrs["taylor_dtype"] == "float64"


@pytest.mark.parametrize("connectivity", ["full", "knn"])
def test_an_exactly_quadratic_loss_has_no_excess_over_its_null_on_a_grid(tmp_path, connectivity):
    objective = _quadratic_objective()
    directions = _directions(objective, 3)
    data = sample_landscape(objective, directions, resolution=9, distance=0.5)
    path = tmp_path / "landscape.nc"
    write_landscape(data, path)
    attrs = compute_topology(path, connectivity=connectivity).dataset.attrs
    assert attrs["null_model"] == 1
    for name in ("n_minima_raw", "n_saddles_raw", "n_minima_above", "n_minima_above_log"):
        assert attrs[f"excess_{name}"] == 0, name
        assert attrs[f"null_{name}"] == attrs[name], name
    assert attrs["anharmonic_fraction"] == 0.0
    assert attrs["taylor_log_error_median"] < 1e-10
    assert attrs["null_min_curvature"] > 0  # least squares: K is positive definite


def test_an_exactly_quadratic_loss_has_no_excess_over_its_null_on_scattered_samples(tmp_path):
    objective = _quadratic_objective(3)
    directions = _directions(objective, 5)
    data = sample_scattered_landscape(objective, directions, n_points=1025, distance=0.5)
    path = tmp_path / "landscape.nc"
    write_landscape(data, path)
    attrs = compute_topology(path, connectivity="knn").dataset.attrs
    assert attrs["knn_metric"] == "curvature" and attrs["symmetrize"] == "union"
    for name in ("n_minima_raw", "n_saddles_raw", "n_minima_above", "n_minima_above_log"):
        assert attrs[f"excess_{name}"] == 0, name
    assert attrs["n_minima_raw"] == attrs["null_n_minima_raw"] == 1
    assert attrs["anharmonic_fraction"] == 0.0


def _anisotropic_quadratic(seed: int, dims: int, condition: float) -> TaylorModel:
    """A convex quadratic with eigenvalues spread over ``condition`` and random axes, its
    minimum inside the cube."""
    rng = np.random.default_rng(seed)
    axes, _ = np.linalg.qr(rng.normal(size=(dims, dims)))
    curvatures = np.geomspace(1.0, condition, dims)
    hessian = (axes * curvatures) @ axes.T
    minimum = rng.uniform(-0.05, 0.05, size=dims)
    return TaylorModel(1.0, -hessian @ minimum, hessian)


@pytest.mark.parametrize("seed", range(4))
def test_whitened_knn_gives_an_anisotropic_quadratic_few_minima_where_plain_knn_gives_many(seed):
    from losstopo.landscape.scattered import scattered_points

    quadratic = _anisotropic_quadratic(seed, 6, 1e3)
    points = scattered_points(6, 4097, 0.1, sampling="sobol", seed=seed)
    values = quadratic(points)

    def minima(coordinates: np.ndarray, symmetrize: str) -> int:
        graph = knn_graph(coordinates, 24, symmetrize, query_size=26)
        return merge_tree_on_graph(values, graph).n_minima

    # 4,097 samples are about 4 per axis: two samples on either side of the quadratic's
    # minimum that are not neighbours can both be minima, so 1-3 remain; the paper's graph
    # (mutual Euclidean k-NN) counts its own sampling in the valley floor, 20-30 minima.
    whitened = minima(points @ curvature_whitening(quadratic.hessian).T, "union")
    assert 1 <= whitened <= 3
    assert minima(points, "mutual") >= 20


def test_whitening_makes_the_curvature_isotropic_with_a_floor():
    rng = np.random.default_rng(0)
    axes, _ = np.linalg.qr(rng.normal(size=(4, 4)))
    hessian = (axes * np.array([-3.0, 1e-6, 2.0, 5.0])) @ axes.T
    w = curvature_whitening(hessian)
    # WᵀW is |K| with eigenvalues below 1 % of the largest raised to it
    expected = (axes * np.array([3.0, 0.05, 2.0, 5.0])) @ axes.T
    np.testing.assert_allclose(w.T @ w, expected, atol=1e-12)
    np.testing.assert_array_equal(curvature_whitening(np.zeros((3, 3))), np.eye(3))


def test_anharmonicity_counts_points_off_by_more_than_a_factor_of_two():
    loss = np.array([1.0, 2.0, 10.0, 1.0, np.nan, 3.0])
    null = np.array([1.0, 1.0, 1.0, -1.0, 5.0, 2.0])
    # finite loss: 5 points; off by > 2x: 10 vs 1; q <= 0: one; 2 vs 1 is exactly 2x (not >)
    result = anharmonicity(loss, null)
    assert result["anharmonic_fraction"] == pytest.approx(2 / 5)
    errors = [0.0, np.log10(2.0), 1.0, np.log10(1.5)]
    assert result["taylor_log_error_median"] == pytest.approx(np.median(errors))


def test_taylor_model_rejects_non_finite_or_misshaped_terms():
    with pytest.raises(LosstopoError, match="non-finite"):
        TaylorModel(1.0, [0.0, np.nan], np.eye(2))
    with pytest.raises(LosstopoError, match="shape"):
        TaylorModel(1.0, [0.0, 1.0], np.eye(3))


def test_a_landscape_without_its_null_model_gets_a_clear_error_for_the_whitened_graph(tmp_path):
    objective = _quadratic_objective()
    directions = _directions(objective, 5)
    data = sample_scattered_landscape(
        objective, directions, n_points=65, distance=0.5, null_model=False
    )
    path = tmp_path / "landscape.nc"
    write_landscape(data, path)
    with pytest.raises(LosstopoError, match=r"no Taylor model.*--knn-metric euclidean"):
        compute_topology(path, connectivity="knn")
    attrs = compute_topology(path, connectivity="knn", knn_metric="euclidean").dataset.attrs
    assert attrs["null_model"] == 0 and attrs["null_n_minima_raw"] == -1


def test_center_points_fill_the_inner_cube_and_leave_the_cube_samples_unchanged():
    from losstopo.landscape.scattered import scattered_points

    plain = scattered_points(5, 257, 0.2, sampling="sobol", seed=4)
    dense = scattered_points(5, 257, 0.2, sampling="sobol", seed=4, center_points=64)
    assert dense.shape == (257 + 64, 5)
    np.testing.assert_array_equal(dense[:257], plain)
    inner = dense[257:]
    assert np.abs(inner).max() < 0.02 and np.abs(inner).max() > 0.015
    assert len(np.unique(inner, axis=0)) == 64
    again = scattered_points(5, 257, 0.2, sampling="sobol", seed=4, center_points=64)
    np.testing.assert_array_equal(dense, again)
    with pytest.raises(LosstopoError, match="center_scale"):
        scattered_points(5, 257, 0.2, seed=4, center_points=4, center_scale=1.5)


LANDSCAPE_KINDS = ((3, "full", ""), (3, "knn", "grid index"), (6, "knn", "curvature"))


def _calibration_table():
    import pandas as pd

    rows = []
    for dims, connectivity, metric in (
        (3, "full", ""),
        (3, "knn", "grid index"),
        (6, "knn", "curvature"),
    ):
        for regime, base in (("success", 4), ("failure", 9)):
            for seed in (0, 1):
                real = {"n_minima_raw": base * 10 + seed, "n_minima_above": base + seed}
                real["n_minima_above_log"] = base + 2 * seed
                null = {f"null_{key}": 1 + seed for key in real}
                rows.append(
                    dict(
                        dims=dims,
                        connectivity=connectivity,
                        knn_metric=metric,
                        symmetrize="union" if metric == "curvature" else "mutual",
                        regime=regime,
                        run=f"{regime}{seed}",
                        null_model=1,
                        **real,
                        **null,
                    )
                )
    return pd.DataFrame(rows)


def test_calibration_figure_draws_every_real_and_null_count_in_its_landscape_slot():
    import matplotlib.pyplot as plt

    from losstopo.plots.calibration import CALIBRATION_PANELS, null_calibration

    table = _calibration_table()
    figure = null_calibration(table)
    axes = [ax for ax in figure.axes if ax.get_title()]
    assert [ax.get_title() for ax in axes] == [title for _, title in CALIBRATION_PANELS]
    table = table.assign(summary_threshold_relative=0.01, log_threshold_decades=0.3)
    titles = [ax.get_title() for ax in null_calibration(table).axes if ax.get_title()]
    assert titles[1:] == [
        "minima, persistence ≥ 1% of range",
        "minima ≥ 0.3 decades deep (log persistence)",
    ]
    for ax, (name, _) in zip(axes, CALIBRATION_PANELS, strict=True):
        labels = [tick.get_text() for tick in ax.get_xticklabels()]
        assert labels == [
            "3-D full",
            "3-D knn\ngrid, mutual",
            "6-D knn\nwhitened, union",
        ]
        filled = [c for c in ax.collections if c.get_facecolors().size]
        hollow = [c for c in ax.collections if not c.get_facecolors().size]
        real = np.concatenate([c.get_offsets() for c in filled])
        null = np.concatenate([c.get_offsets() for c in hollow])
        # one marker per run and landscape, each within its landscape's slot
        assert len(real) == len(null) == len(table)
        slots = np.round(real[:, 0]).astype(int)
        for slot, kind in enumerate(labels):
            dims = int(kind[0])
            connectivity = kind.split()[1]
            rows = table[(table.dims == dims) & (table.connectivity == connectivity)]
            assert sorted(real[slots == slot, 1]) == sorted(rows[name].astype(float))
            assert sorted(null[slots == slot, 1]) == sorted(rows[f"null_{name}"].astype(float))
    plt.close(figure)


def test_calibration_figure_rejects_tables_without_a_null_model():
    from losstopo.plots.calibration import null_calibration

    with pytest.raises(LosstopoError, match="null_n_minima_raw"):
        null_calibration(_calibration_table().drop(columns="null_n_minima_raw"))
    with pytest.raises(LosstopoError, match="no landscape in the table has a null model"):
        null_calibration(_calibration_table().assign(null_model=0))


def test_topology_table_carries_real_null_and_excess_counts(tmp_path):
    from losstopo.io.tables import NULL_COLUMNS, topology_table
    from losstopo.io.topology_file import write_topology

    objective = _mlp_objective(2)
    directions = _directions(objective, 2)
    attrs = {"run_fields": {"seed": 2}, "checkpoint_metrics": {}, "table_metrics": []}
    data = sample_landscape(objective, directions, resolution=11, distance=2.0, attrs=attrs)
    landscape = tmp_path / "model" / "landscape.nc"
    landscape.parent.mkdir()
    write_landscape(data, landscape)
    result = compute_topology(landscape, connectivity="full")
    topology = tmp_path / "model" / "topology.nc"
    write_topology(result.dataset, topology)
    row = topology_table([topology]).iloc[0]
    for column in NULL_COLUMNS:
        assert column in row.index
    for name in ("n_minima_raw", "n_saddles_raw", "n_minima_above_log"):
        assert row[f"excess_{name}"] == row[name] - row[f"null_{name}"]
    assert row.null_model == 1 and 0 <= row.anharmonic_fraction <= 1
    # the null evaluated independently: q on the grid's coordinates, its minima by brute force
    alphas = np.stack(np.meshgrid(data.a0.values, data.a1.values, indexing="ij"), axis=-1)
    g, k = data["taylor_gradient"].values, data["taylor_hessian"].values
    q = data.attrs["center_loss"] + alphas @ g
    q = q + 0.5 * np.einsum("xyi,ij,xyj->xy", alphas, k, alphas)
    q = np.maximum(q, data["loss"].values.min())  # the null's tree clips at the smallest loss
    # a minimum of the sweep: every neighbour comes later in (value, flat index) order
    order = np.argsort(q.ravel(), kind="stable").argsort().reshape(q.shape)
    padded = np.pad(order, 1, constant_values=order.size)
    neighbours = [
        padded[1 + dx : 12 + dx, 1 + dy : 12 + dy]
        for dx in (-1, 0, 1)
        for dy in (-1, 0, 1)
        if dx or dy
    ]
    brute = int(np.count_nonzero(np.all([order < n for n in neighbours], axis=0)))
    assert row.null_n_minima_raw == brute


def test_a_wall_of_nan_splits_the_null_like_the_loss(tmp_path):
    """Non-finite losses are +∞ in both trees: on an exactly quadratic loss with a NaN wall
    through the grid, the null has the loss's two minima (excess 0), not the one of q."""
    objective = _quadratic_objective(1)
    directions = _directions(objective, 2)
    data = sample_landscape(objective, directions, resolution=15, distance=0.5)
    loss = data["loss"].values.copy()
    loss[:, 9] = np.nan  # a wall: two components, each with its own minimum
    data["loss"] = (data["loss"].dims, loss)
    path = tmp_path / "landscape.nc"
    write_landscape(data, path)
    attrs = compute_topology(path, connectivity="full").dataset.attrs
    # the wall's +∞ vertices join the two sides last: one component, two minima
    assert attrs["n_minima_raw"] == 2 and attrs["n_saddles_raw"] == 1
    assert attrs["null_n_minima_raw"] == 2 and attrs["excess_n_minima_raw"] == 0
    assert attrs["excess_n_minima_above_log"] == 0


def test_the_null_is_measured_in_the_losses_decades_where_the_quadratic_dips_below_zero(tmp_path):
    """A saddle-shaped null (one negative curvature) crosses zero towards two edges of the
    grid: its two minima are clipped at the smallest loss, so the shallower one is
    log10(q(0) / min L) decades deep, not twelve decades below a shift to 1e-12."""
    from losstopo.topology.descriptors import log_persistence
    from losstopo.topology.mergetree import merge_tree
    from losstopo.topology.null_model import null_tree_values

    axis = np.linspace(-1.0, 1.0, 21)
    a0, a1 = np.meshgrid(axis, axis, indexing="ij")
    loss = 1.0 + a0**2 + a1**2  # the loss: a bowl, minimum 1 at the centre
    saddle = TaylorModel(1.0, [0.0, 0.0], np.diag([2.0, -4.0]))  # q = 1 + a0² − 2 a1²
    null = saddle(np.stack([a0.ravel(), a1.ravel()], axis=1)).reshape(loss.shape)
    assert null.min() == pytest.approx(-1.0)
    values = null_tree_values(loss, null)
    assert values.min() == loss.min() == 1.0
    tree = merge_tree(values, "full")
    assert tree.n_minima == 2
    # the two edge minima meet at the centre, where q = 1: both at the floor 1, so 0 decades
    np.testing.assert_allclose(log_persistence(tree), [0.0])
    unclipped = merge_tree(np.where(np.isfinite(loss), null, np.inf), "full")
    assert log_persistence(unclipped).max() > 11  # what a shift to ~1e-12 would report
    loss[3, 4] = np.inf
    assert null_tree_values(loss, null)[3, 4] == np.inf


def test_the_api_builds_the_same_scattered_graph_as_the_command_line(tmp_path):
    import xarray as xr

    from losstopo import api

    objective = _mlp_objective(4)
    directions = _directions(objective, 5)
    data = sample_scattered_landscape(objective, directions, n_points=257, distance=0.5)
    path = tmp_path / "landscape.nc"
    write_landscape(data, path)
    for metric, symmetrize in (("curvature", "union"), ("euclidean", "mutual")):
        given = {"symmetrize": None} if metric == "curvature" else {"symmetrize": symmetrize}
        stored = compute_topology(path, connectivity="knn", knn_metric=metric, **given)
        attrs = stored.dataset.attrs
        assert attrs["symmetrize"] == symmetrize
        tree = api.merge_tree(xr.open_dataset(path), "knn", knn_metric=metric, **given)
        assert tree.symmetrize == symmetrize
        assert (tree.n_minima, tree.n_saddles) == (attrs["n_minima_raw"], attrs["n_saddles_raw"])
