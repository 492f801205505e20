"""Whole-dataset objectives (``Objective.from_loader``) against the whole dataset as one batch.

The oracles: ``Objective.from_module`` on all examples at once, and a dense Hessian from
``torch.autograd.functional.hessian`` of a hand-written mean loss with ``numpy.linalg.eigh``.
The loader splits 37 examples unevenly (8, 8, 8, 8, 5), so a mean of batch means that
ignored the batch sizes would differ.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.func import grad
from torch.utils.data import DataLoader, TensorDataset

from losstopo.api import (
    hessian_eigenpairs,
    hessian_trace,
    random_directions,
    sample_landscape,
    sample_scattered_landscape,
    spectral_density,
)
from losstopo.errors import LosstopoError
from losstopo.hessian.operator import HVPOperator
from losstopo.hessian.solvers import start_vector
from losstopo.objective import Objective

F64 = torch.float64
N_EXAMPLES = 37


def classifier() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Linear(3, 5), torch.nn.Tanh(), torch.nn.Linear(5, 3)
    ).double()


def dataset(n: int = N_EXAMPLES) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    inputs = torch.randn(n, 3, generator=generator, dtype=F64)
    targets = (inputs[:, 0] > 0).long() + (inputs[:, 1] > 0.5).long()
    return inputs, targets


def pair(batch_size: int = 8) -> tuple[Objective, Objective]:
    """The loader objective and the whole dataset as one batch, on the same weights."""
    model = classifier()
    inputs, targets = dataset()
    loader = DataLoader(TensorDataset(inputs, targets), batch_size=batch_size)
    return (
        Objective.from_loader(model, F.cross_entropy, loader),
        Objective.from_module(model, F.cross_entropy, (inputs, targets)),
    )


def hand_written_loss(flat: torch.Tensor) -> torch.Tensor:
    """The mean cross-entropy of the 3 → 5 → 3 tanh network, written out by hand."""
    inputs, targets = dataset()
    w0, b0 = flat[:15].reshape(5, 3), flat[15:20]
    w2, b2 = flat[20:35].reshape(3, 5), flat[35:38]
    logits = torch.tanh(inputs @ w0.T + b0) @ w2.T + b2
    picked = logits.gather(1, targets[:, None])[:, 0]
    return (torch.logsumexp(logits, dim=1) - picked).mean()


def dense_hessian(objective: Objective) -> torch.Tensor:
    return torch.autograd.functional.hessian(hand_written_loss, objective.theta())


def test_loss_gradient_and_counts_equal_the_whole_dataset():
    loader_objective, whole = pair()
    assert loader_objective.n_parameters == 38
    with torch.no_grad():
        loss = float(loader_objective())
    assert loss == pytest.approx(float(hand_written_loss(whole.theta())), rel=1e-14)
    assert loss == pytest.approx(float(whole()), rel=1e-14)
    gradient = loader_objective.flatten(grad(loader_objective.loss_fn)(loader_objective.params))
    expected = torch.func.grad(hand_written_loss)(whole.theta())
    torch.testing.assert_close(gradient, expected, rtol=1e-12, atol=1e-15)
    assert loader_objective.metadata["objective_examples"] == N_EXAMPLES
    assert loader_objective.metadata["objective_batches"] == 5
    assert loader_objective.metadata["objective_batch_size"] == 8
    assert "37 examples in 5 batches" in loader_objective.description


@pytest.mark.parametrize("mode", ["auto", "forward", "func-reverse"])
def test_every_hvp_mode_equals_the_dense_hessian(mode):
    loader_objective, whole = pair()
    h = dense_hessian(whole)
    operator = HVPOperator(loader_objective, mode=mode)
    for seed in range(3):
        v = start_vector(38, seed, F64, torch.device("cpu"))
        torch.testing.assert_close(operator(v), h @ v, rtol=1e-10, atol=1e-13)
    assert operator.mode.split(" (")[0] == HVPOperator(whole, mode=mode).mode.split(" (")[0]


def test_top_eigenpairs_equal_the_dense_spectrum():
    loader_objective, whole = pair()
    values, vectors = np.linalg.eigh(dense_hessian(whole).numpy())
    top = np.argsort(-np.abs(values))[:3]
    result = hessian_eigenpairs(loader_objective, 3, tol=1e-10, max_hvp=200)
    np.testing.assert_allclose(result.eigenvalues, values[top], rtol=1e-8)
    cosines = np.abs(np.sum(result.eigenvectors.numpy() * vectors[:, top].T, axis=1))
    np.testing.assert_allclose(cosines, 1.0, atol=1e-8)


def test_trace_and_spectral_density_on_the_same_probes_equal_the_whole_dataset():
    loader_objective, whole = pair()
    mine = hessian_trace(loader_objective, seed=3, max_hvps=25, min_probes=25)
    oracle = hessian_trace(whole, seed=3, max_hvps=25, min_probes=25)
    np.testing.assert_allclose(mine.samples, oracle.samples, rtol=1e-10, atol=1e-13)
    assert mine.estimate == pytest.approx(oracle.estimate, rel=1e-10)
    trace = float(torch.trace(dense_hessian(whole)))
    assert abs(mine.estimate - trace) < 4 * mine.standard_error + 1e-12
    quadrature, density = spectral_density(loader_objective, n_runs=2, steps=10, seed=1)
    oracle_quadrature, oracle_density = spectral_density(whole, n_runs=2, steps=10, seed=1)
    np.testing.assert_allclose(quadrature.nodes, oracle_quadrature.nodes, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(quadrature.weights, oracle_quadrature.weights, atol=1e-8)
    np.testing.assert_allclose(density.density, oracle_density.density, rtol=1e-6, atol=1e-10)


def test_grid_and_scattered_landscapes_equal_the_whole_dataset():
    loader_objective, whole = pair()
    directions = random_directions(whole, 2, seed=4)
    common = dict(resolution=5, distance=0.5)
    mine = sample_landscape(loader_objective, directions, **common)
    oracle = sample_landscape(whole, directions, **common)
    np.testing.assert_allclose(mine["loss"].values, oracle["loss"].values, rtol=1e-12)
    for name in ("taylor_gradient", "taylor_hessian"):
        np.testing.assert_allclose(mine[name].values, oracle[name].values, rtol=1e-10, atol=1e-13)
    assert mine.attrs["center_loss"] == pytest.approx(oracle.attrs["center_loss"], rel=1e-14)
    # every grid point from the hand-written loss at θ + a0·d0 + a1·d1
    theta = whole.theta()
    axis = mine["a0"].values
    expected = [
        [float(hand_written_loss(theta + a0 * directions[0] + a1 * directions[1])) for a1 in axis]
        for a0 in axis
    ]
    np.testing.assert_allclose(mine["loss"].values, expected, rtol=1e-12)

    scattered = dict(n_points=20, distance=0.5, seed=2)
    mine = sample_scattered_landscape(loader_objective, directions, **scattered)
    oracle = sample_scattered_landscape(whole, directions, **scattered)
    np.testing.assert_array_equal(mine["coords"].values, oracle["coords"].values)
    np.testing.assert_allclose(mine["loss"].values, oracle["loss"].values, rtol=1e-12)


@settings(max_examples=12, deadline=None)
@given(batch_size=st.integers(min_value=1, max_value=N_EXAMPLES + 3))
def test_any_batch_size_gives_the_whole_dataset_loss_gradient_and_hvp(batch_size):
    loader_objective, whole = pair(batch_size)
    expected_batches = -(-N_EXAMPLES // batch_size)
    assert loader_objective.metadata["objective_batches"] == expected_batches
    with torch.no_grad():
        assert float(loader_objective()) == pytest.approx(float(whole()), rel=1e-13)
    gradient = loader_objective.flatten(grad(loader_objective.loss_fn)(loader_objective.params))
    torch.testing.assert_close(gradient, whole.flatten(grad(whole.loss_fn)(whole.params)))
    v = start_vector(38, batch_size, F64, torch.device("cpu"))
    torch.testing.assert_close(HVPOperator(loader_objective)(v), HVPOperator(whole)(v))


def test_float32_data_are_cast_to_the_parameters_dtype():
    model = classifier()
    inputs, targets = dataset()
    batches = [(inputs[i : i + 10].float(), targets[i : i + 10]) for i in range(0, 37, 10)]
    objective = Objective.from_loader(model, F.cross_entropy, batches)
    with torch.no_grad():
        loss = objective()
    assert loss.dtype == F64
    rounded = Objective.from_module(model, F.cross_entropy, (inputs.float().double(), targets))
    with torch.no_grad():
        assert float(loss) == pytest.approx(float(rounded()), rel=1e-14)
        assert float(loss) != float(hand_written_loss(objective.theta()))  # the data were rounded


# --- memory: one batch at a time ------------------------------------------------------


class CountingLoader:
    """A loader that counts the passes started over it."""

    def __init__(self, loader: DataLoader):
        self.loader = loader
        self.passes = 0

    def __iter__(self):
        self.passes += 1
        return iter(self.loader)


def test_a_dataset_beyond_the_memory_budget_is_chunked_per_batch():
    """4096 examples hold 8·6·4096·132 bytes (26 MB) of activations per point, far over a
    2 MiB budget; one batch of 64 holds 8·6·64·132 bytes, so the evaluator fits 4 points per
    call (2 MiB / (8·(3·1218 + 6·8448)) bytes), reads the data once per chunk, and gets
    the whole dataset's values."""
    from losstopo.landscape.evaluation import sample_landscape as sample_grid

    torch.manual_seed(5)
    model = torch.nn.Sequential(
        torch.nn.Linear(16, 64), torch.nn.Tanh(), torch.nn.Linear(64, 2)
    ).double()
    generator = torch.Generator().manual_seed(6)
    inputs = torch.randn(4096, 16, generator=generator, dtype=F64)
    targets = (inputs[:, 0] > 0).long()
    loader = CountingLoader(DataLoader(TensorDataset(inputs, targets), batch_size=64))
    objective = Objective.from_loader(model, F.cross_entropy, loader)
    whole = Objective.from_module(model, F.cross_entropy, (inputs, targets))

    parameters = 16 * 64 + 64 + 64 * 2 + 2
    # per example: Linear (64), Tanh (64), Linear (2) and the Sequential's output (2)
    batch_activations = 64 * (64 + 64 + 2 + 2)
    per_point = 8 * (3 * parameters + 6 * batch_activations)
    budget_mb = 2.0
    assert 8 * 6 * 4096 * 132 > budget_mb * 2**20  # the dataset alone exceeds the budget
    expected_chunk = int(budget_mb * 2**20 // per_point)
    assert expected_chunk == 4

    directions = random_directions(whole, 2, seed=1)
    before = loader.passes
    result = sample_grid(
        objective, directions, 5, 0.4, memory_budget_mb=budget_mb, show_progress=False
    )
    assert result.chunk_size == expected_chunk
    assert result.chunk_size * per_point <= budget_mb * 2**20
    # one (partial) pass to size the chunks, then each slab of 5 points in chunks of 4 and 1
    assert loader.passes - before == 1 + 5 * 2
    oracle = sample_grid(whole, directions, 5, 0.4, chunk_size=25, show_progress=False)
    np.testing.assert_allclose(result.loss, oracle.loss, rtol=1e-12)


# --- bad loaders: one line each ---------------------------------------------------------


def one_line(excinfo: pytest.ExceptionInfo, *words: str) -> None:
    message = str(excinfo.value)
    assert "\n" not in message
    for word in words:
        assert word in message, message


def test_a_shuffling_loader_is_refused():
    inputs, targets = dataset()
    loader = DataLoader(TensorDataset(inputs, targets), batch_size=8, shuffle=True)
    with pytest.raises(LosstopoError) as excinfo:
        Objective.from_loader(classifier(), F.cross_entropy, loader)
    one_line(excinfo, "RandomSampler", "shuffle=False")


def test_a_one_shot_iterator_is_refused():
    inputs, targets = dataset()
    batches = ((inputs[i : i + 8], targets[i : i + 8]) for i in range(0, 37, 8))
    with pytest.raises(LosstopoError) as excinfo:
        Objective.from_loader(classifier(), F.cross_entropy, batches)
    one_line(excinfo, "one-shot iterator")


@pytest.mark.parametrize(
    ("batches", "words"),
    [
        ([], ["no examples"]),
        ([{"x": torch.zeros(2, 3)}], ["batch 0", "dict", "(inputs, targets)"]),
        ([(torch.zeros(2, 3), torch.zeros(2).long(), None)], ["batch 0", "tuple"]),
    ],
)
def test_malformed_loaders_are_refused(batches, words):
    with pytest.raises(LosstopoError) as excinfo:
        Objective.from_loader(classifier(), F.cross_entropy, batches)
    one_line(excinfo, *words)


def test_a_loss_that_is_not_a_batch_mean_is_refused():
    inputs, targets = dataset()
    objective = Objective.from_loader(
        classifier(), lambda out, y: F.cross_entropy(out, y, reduction="none"), [(inputs, targets)]
    )
    with pytest.raises(LosstopoError) as excinfo, torch.no_grad():
        objective()
    one_line(excinfo, "shape (37,)", "mean")


class ShrinkingLoader:
    """Yields all batches on its first pass and one fewer on every later pass."""

    def __init__(self, batches):
        self.batches, self.passes = batches, 0

    def __iter__(self):
        self.passes += 1
        return iter(self.batches if self.passes == 1 else self.batches[:-1])


def test_a_loader_that_changes_between_passes_is_refused():
    inputs, targets = dataset()
    batches = [(inputs[i : i + 8], targets[i : i + 8]) for i in range(0, 37, 8)]
    objective = Objective.from_loader(classifier(), F.cross_entropy, ShrinkingLoader(batches))
    with pytest.raises(LosstopoError) as excinfo, torch.no_grad():
        objective()
    one_line(excinfo, "32 examples in 4 batches", "37 in 5")
