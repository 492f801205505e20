"""UNet-CRF training runs: determinism, resuming, metrics, the segmentation objective and
its landscapes (loss and pixel accuracy) through the analysis stages."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from losstopo.errors import LosstopoError
from losstopo.io.checkpoint import load_checkpoint
from losstopo.problems.loading import load_objective
from losstopo.problems.segmentation.config import UNetConfig
from losstopo.problems.segmentation.metrics import confusion_matrix, pixel_accuracy, scores
from losstopo.problems.segmentation.problem import fixed_batch_indices
from losstopo.problems.segmentation.synthetic_pets import make_synthetic_pets
from losstopo.problems.segmentation.training import checkpoint_name, epoch_order, train_unet_run

CPU = torch.device("cpu")
LOSSTOPO = [sys.executable, "-m", "losstopo"]


@pytest.fixture(scope="module")
def pets(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("pets") / "synthetic"
    make_synthetic_pets(root, n_trainval=12, n_test=6, size=24, seed=3)
    return root


def tiny_config(data: Path, **overrides) -> UNetConfig:
    settings = dict(
        data_dir=str(data),
        lr=0.01,
        epochs=3,
        batch_size=5,
        image_size=16,
        width=2,
        depth=2,
        crf_iterations=2,
        step_size=2,
        gamma=0.5,
    )
    settings.update(overrides)
    return UNetConfig(**settings)


def weights(path: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(path)["state_dict"]


def assert_same_weights(a: Path, b: Path) -> None:
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys()
    for name in wa:
        assert torch.equal(wa[name], wb[name]), name


@pytest.fixture(scope="module")
def uninterrupted(pets, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("run") / "full"
    previous = torch.get_num_threads()
    torch.set_num_threads(1)  # as every test (conftest): results depend on the thread count
    try:
        train_unet_run(tiny_config(pets), 7, out, CPU)
    finally:
        torch.set_num_threads(previous)
    return out


def test_run_writes_every_checkpoint_and_metrics(uninterrupted):
    for epoch in range(4):
        checkpoint = load_checkpoint(uninterrupted / "checkpoints" / checkpoint_name(epoch))
        assert checkpoint["problem"] == "segmentation"
        assert checkpoint["epoch"] == epoch
        assert checkpoint["seed"] == 7
        assert checkpoint["provenance"]["synthetic_data"] is True
    metrics = pd.read_csv(uninterrupted / "metrics.csv")
    assert list(metrics.epoch) == [0, 1, 2, 3]
    for column in ("train_loss", "test_loss", "test_pixel_accuracy", "test_miou"):
        assert np.isfinite(metrics[column]).all()
    assert ((metrics.test_pixel_accuracy >= 0) & (metrics.test_pixel_accuracy <= 1)).all()
    # the checkpoint's metrics are that epoch's row
    last = load_checkpoint(uninterrupted / "checkpoints" / checkpoint_name(3))["metrics"]
    assert last["test_pixel_accuracy"] == pytest.approx(metrics.test_pixel_accuracy.iloc[-1])
    # training moved the weights away from the initialisation
    w0 = weights(uninterrupted / "checkpoints" / checkpoint_name(0))
    w3 = weights(uninterrupted / "checkpoints" / checkpoint_name(3))
    assert any(not torch.equal(w0[k], w3[k]) for k in w0)


def test_training_is_deterministic_for_a_seed(pets, uninterrupted, tmp_path):
    again = tmp_path / "again"
    train_unet_run(tiny_config(pets), 7, again, CPU)
    for epoch in range(4):
        assert_same_weights(
            uninterrupted / "checkpoints" / checkpoint_name(epoch),
            again / "checkpoints" / checkpoint_name(epoch),
        )
    other = tmp_path / "other"
    train_unet_run(tiny_config(pets, epochs=1), 8, other, CPU)
    w7 = weights(uninterrupted / "checkpoints" / checkpoint_name(1))
    w8 = weights(other / "checkpoints" / checkpoint_name(1))
    assert any(not torch.equal(w7[k], w8[k]) for k in w7)


def test_resume_after_interruption_gives_the_same_weights(pets, uninterrupted, tmp_path):
    out = tmp_path / "resumed"
    partial = train_unet_run(tiny_config(pets), 7, out, CPU, stop_after=1)
    assert list(partial.epoch) == [0, 1]
    assert not (out / "checkpoints" / checkpoint_name(2)).exists()
    # a workflow manager removes the published outputs of the failed job
    for path in (out / "checkpoints").iterdir():
        path.unlink()
    (out / "metrics.csv").unlink()
    table = train_unet_run(tiny_config(pets), 7, out, CPU)
    assert list(table.epoch) == [0, 1, 2, 3]
    for epoch in range(4):
        assert_same_weights(
            uninterrupted / "checkpoints" / checkpoint_name(epoch),
            out / "checkpoints" / checkpoint_name(epoch),
        )
    resumed = pd.read_csv(out / "metrics.csv")
    full = pd.read_csv(uninterrupted / "metrics.csv")
    columns = ["epoch", "train_loss", "test_loss", "test_pixel_accuracy", "test_miou"]
    pd.testing.assert_frame_equal(resumed[columns], full[columns])


def test_state_of_another_run_is_not_resumed(pets, tmp_path):
    out = tmp_path / "run"
    train_unet_run(tiny_config(pets), 7, out, CPU, stop_after=1)
    table = train_unet_run(tiny_config(pets, lr=0.002, epochs=1), 7, out, CPU)
    assert list(table.epoch) == [0, 1]
    assert load_checkpoint(out / "checkpoints" / checkpoint_name(1))["hparams"]["lr"] == 0.002


def test_a_truncated_resume_state_is_discarded_with_a_warning(
    pets, uninterrupted, tmp_path, caplog
):
    out = tmp_path / "run"
    train_unet_run(tiny_config(pets), 7, out, CPU, stop_after=1)
    state = out / ".progress" / "state.pt"
    state.write_bytes(state.read_bytes()[:64])  # a hard stop or a full disk mid-write
    with caplog.at_level("WARNING", logger="losstopo"):
        table = train_unet_run(tiny_config(pets), 7, out, CPU)
    assert f"{state} is unreadable" in caplog.text and "starting from scratch" in caplog.text
    assert list(table.epoch) == [0, 1, 2, 3]
    assert_same_weights(
        uninterrupted / "checkpoints" / checkpoint_name(3), out / "checkpoints" / checkpoint_name(3)
    )


def test_epoch_order_depends_only_on_seed_and_epoch():
    a = epoch_order(50, 3, 4)
    assert sorted(a.tolist()) == list(range(50))
    assert np.array_equal(a, epoch_order(50, 3, 4))
    assert not np.array_equal(a, epoch_order(50, 3, 5))


def test_scores_against_brute_force():
    rng = np.random.default_rng(0)
    truth = torch.as_tensor(rng.integers(0, 3, size=(4, 9, 7)))
    logits = torch.as_tensor(rng.normal(size=(4, 3, 9, 7)))
    confusion = confusion_matrix(logits, truth)
    pred = logits.argmax(1).numpy()
    t = truth.numpy()
    for i in range(3):
        for j in range(3):
            assert confusion[i, j] == np.sum((t == i) & (pred == j))
    result = scores(confusion)
    assert result["pixel_accuracy"] == pytest.approx(np.mean(pred == t))
    ious = [np.sum((pred == c) & (t == c)) / np.sum((pred == c) | (t == c)) for c in range(3)]
    assert result["miou"] == pytest.approx(np.mean(ious))
    assert float(pixel_accuracy(logits, truth)) == pytest.approx(np.mean(pred == t))


def test_fixed_batch_is_seeded_and_sorted():
    a = fixed_batch_indices(100, 32, 0)
    assert len(set(a.tolist())) == 32 and np.all(np.diff(a) > 0)
    assert np.array_equal(a, fixed_batch_indices(100, 32, 0))
    assert not np.array_equal(a, fixed_batch_indices(100, 32, 1))
    assert len(fixed_batch_indices(10, 32, 0)) == 10


def test_config_errors_are_clear(pets):
    with pytest.raises(LosstopoError, match="lr must be"):
        tiny_config(pets, lr=0)
    with pytest.raises(LosstopoError, match="too small for depth"):
        tiny_config(pets, image_size=8, depth=5)
    with pytest.raises(LosstopoError, match="crf_taps"):
        tiny_config(pets, crf_taps=4)


def test_objective_loss_and_metric_match_a_direct_forward(uninterrupted, pets):
    path = uninterrupted / "checkpoints" / checkpoint_name(3)
    objective = load_objective(path, CPU, torch.float64, batch_size=4, batch_seed=1)
    assert objective.metadata["bn_mode"] == "eval"
    assert objective.metric_name == "pixel_accuracy"
    assert "synthetic" in objective.description
    # independent evaluation: the module itself in eval mode on the same 4 images
    from losstopo.problems import get_problem
    from losstopo.problems.segmentation.pets import load_pets

    checkpoint = load_checkpoint(path)
    model = get_problem("segmentation").build_model(checkpoint["hparams"])
    model.load_state_dict(checkpoint["state_dict"])
    model = model.double().eval()
    data = load_pets(pets, "trainval", 16)
    index = torch.as_tensor(fixed_batch_indices(len(data), 4, 1))
    with torch.no_grad():
        logits = model(data.normalized(index).double())
    masks = data.masks[index].long()
    expected = torch.nn.functional.cross_entropy(logits, masks)
    assert float(objective()) == pytest.approx(float(expected), rel=1e-12)
    loss, accuracy = objective.evaluate_fn(objective.params)
    assert float(loss) == pytest.approx(float(expected), rel=1e-12)
    assert float(accuracy) == pytest.approx(float((logits.argmax(1) == masks).double().mean()))


def test_batch_statistics_mode_differs_from_running_statistics(uninterrupted):
    path = uninterrupted / "checkpoints" / checkpoint_name(3)
    running = load_objective(path, CPU, torch.float64, batch_size=6)
    batch = load_objective(path, CPU, torch.float64, batch_size=6, bn_mode="batch")
    assert batch.metadata["bn_mode"] == "batch"
    assert float(running()) != pytest.approx(float(batch()), rel=1e-6)


def test_unknown_objective_options_are_rejected(uninterrupted):
    path = uninterrupted / "checkpoints" / checkpoint_name(0)
    with pytest.raises(LosstopoError, match="no objective option colour"):
        load_objective(path, CPU, torch.float32, colour="red")
    with pytest.raises(LosstopoError, match="bn_mode"):
        load_objective(path, CPU, torch.float32, bn_mode="train")


def test_float32_hessian_products_stay_float32(uninterrupted):
    from losstopo.hessian.operator import HVPOperator

    path = uninterrupted / "checkpoints" / checkpoint_name(3)
    obj32 = load_objective(path, CPU, torch.float32, batch_size=4)
    obj64 = load_objective(path, CPU, torch.float64, batch_size=4)
    v = torch.randn(obj32.n_parameters, generator=torch.Generator().manual_seed(0))
    hv32, hv64 = HVPOperator(obj32)(v), HVPOperator(obj64)(v.double())
    assert hv32.dtype == torch.float32
    assert torch.linalg.norm(hv32.double() - hv64) <= 1e-4 * torch.linalg.norm(hv64)


def test_landscape_records_pixel_accuracy_per_point(uninterrupted):
    from losstopo.api import hessian_eigenpairs, normalized_directions, sample_landscape

    path = uninterrupted / "checkpoints" / checkpoint_name(3)
    objective = load_objective(path, CPU, torch.float64, batch_size=4)
    result = hessian_eigenpairs(objective, 2, tol=1e-6)
    directions = normalized_directions(objective, result.eigenvectors, normalization="layer")
    dataset = sample_landscape(objective, directions, resolution=5, distance=0.01, chunk_size=7)
    assert dataset.attrs["bn_mode"] == "eval"
    assert dataset["metric"].attrs["metric_name"] == "pixel_accuracy"
    # direct per-point evaluation of loss and accuracy at three grid points
    theta = objective.theta()
    for i, j in [(0, 0), (2, 2), (4, 1)]:
        a = torch.tensor([dataset.a0.values[i], dataset.a1.values[j]], dtype=theta.dtype)
        point = objective.unflatten(theta + a @ directions)
        loss, accuracy = objective.evaluate_fn(point)
        assert dataset.loss.values[i, j] == pytest.approx(float(loss), rel=1e-10)
        assert dataset.metric.values[i, j] == pytest.approx(float(accuracy), abs=1e-12)
    assert dataset.loss.values[2, 2] == pytest.approx(float(objective()), rel=1e-10)


def test_cli_train_unet_and_table(pets, tmp_path, subprocess_env):
    out = tmp_path / "lr0.01_seed1"
    command = [
        sys.executable,
        "-m",
        "losstopo",
        "train-unet",
        "--data",
        str(pets),
        "--lr",
        "0.01",
        "--seed",
        "1",
        "--epochs",
        "1",
        "--batch-size",
        "6",
        "--image-size",
        "16",
        "--width",
        "2",
        "--depth",
        "2",
        "--device",
        "cpu",
        "--out",
        str(out),
    ]
    done = subprocess.run(command, capture_output=True, text=True, env=subprocess_env)
    assert done.returncode == 0, done.stderr
    assert (out / "checkpoints" / "epoch_001.pt").is_file()
    table_path = tmp_path / "unet_accuracy.csv"
    done = subprocess.run(
        [*LOSSTOPO, "unet-table", str(out / "metrics.csv"), "--out", str(table_path)],
        capture_output=True,
        text=True,
        env=subprocess_env,
    )
    assert done.returncode == 0, done.stderr
    table = pd.read_csv(table_path)
    assert list(table.epoch) == [0, 1]
    assert (table.lr == 0.01).all() and (table.seed == 1).all() and table.synthetic_data.all()


ARGS = ["--lr", "0.01", "--seed", "0", "--out"]


def test_cli_missing_dataset_is_one_clear_line(tmp_path, subprocess_env):
    done = subprocess.run(
        [*LOSSTOPO, "train-unet", "--data", str(tmp_path / "nowhere"), *ARGS, str(tmp_path)],
        capture_output=True,
        text=True,
        env=subprocess_env,
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "nowhere" in lines[0] and "make-pets" in lines[0]


def test_divergence_is_recorded_kept_visible_and_shown(pets, tmp_path):
    """A learning rate of 1e30 makes the losses non-finite: every epoch from then on is marked
    diverged, metrics.csv keeps NaN visible (not empty cells), the accuracy is NaN instead of
    the score of an arbitrary argmax, and the table and heat-map grid show the cell as NaN."""
    from losstopo.io.tables import mean_accuracy_grid, unet_table

    out = tmp_path / "lr1e30_seed0"
    train_unet_run(tiny_config(pets, lr=1e30, epochs=2), 0, out, CPU)
    assert (out / "run.json").is_file()
    text = (out / "metrics.csv").read_text()
    assert "nan" in text and ",," not in text
    metrics = pd.read_csv(out / "metrics.csv")
    assert not metrics.diverged[0] and metrics.diverged[1:].all()
    assert metrics.test_pixel_accuracy[1:].isna().all()
    assert not np.isfinite(metrics.train_loss[1]) or not np.isfinite(metrics.test_loss[1])
    table = unet_table([out / "metrics.csv"])
    assert table.diverged.tolist() == [False, True, True]
    grid = mean_accuracy_grid(table)
    assert np.isfinite(grid[0]).all() and grid[[1, 2]].isna().all().all()
    from losstopo.plots.heatmap import accuracy_heatmap

    figure = accuracy_heatmap(grid, 1, synthetic=True)
    texts = [t.get_text() for t in figure.axes[0].texts]
    assert texts.count("div") == 2 and len(texts) == 3
