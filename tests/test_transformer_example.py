"""examples/transformer: a small ``nn.TransformerEncoder`` trained by its own script, analysed
through its objective factory (``Objective.from_loader`` over held-out batches), checked
against the model evaluated directly on all held-out data and against its dense Hessian."""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr
import yaml

from losstopo.cli import main

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "transformer"
FACTORY = f"{EXAMPLE / 'objective.py'}:make_objective"
# 685 parameters (one encoder layer, width 8), 300 held-out sequences: two uneven batches of
# the factory's loader (250 + 50)
TINY = [
    *("--vocab", "5", "--length", "5", "--n-train", "200", "--n-held-out", "300"),
    *("--d-model", "8", "--heads", "2", "--feedforward", "16", "--layers", "1"),
    *("--epochs", "1", "--batch-size", "50"),
]


def _train(out: Path, cwd: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(EXAMPLE / "train.py"), *TINY, "--out", str(out)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """The trained checkpoint (epoch 1) of the tiny example."""
    where = tmp_path_factory.mktemp("transformer")
    _train(where / "ckpt", where)
    assert sorted(p.name for p in (where / "ckpt").iterdir()) == ["epoch_000.pt", "epoch_001.pt"]
    return where / "ckpt" / "epoch_001.pt"


@pytest.fixture(scope="module")
def analysed(checkpoint) -> tuple[Path, Path]:
    """``losstopo hessian`` and a 5 × 5 float64 ``losstopo landscape`` through the factory."""
    hessian, landscape = checkpoint.parent / "hessian.nc", checkpoint.parent / "landscape.nc"
    factory = ["--objective", FACTORY, "--device", "cpu"]
    argv = ["hessian", str(checkpoint), "--top-k", "2", "--tol", "1e-8", "--max-hvp", "400"]
    assert main([*argv, *factory, "--out", str(hessian)]) == 0
    argv = ["landscape", str(checkpoint), "--directions", str(hessian), "--dims", "2"]
    argv += ["--resolution", "5", "--distance", "0.2", "--dtype", "float64"]
    assert main([*argv, *factory, "--out", str(landscape)]) == 0
    return hessian, landscape


def _sequences():
    """The example's data and model module, imported on its own (not through the factory)."""
    spec = importlib.util.spec_from_file_location("transformer_sequences", EXAMPLE / "sequences.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up while defined
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def direct(checkpoint):
    """Independent of the factory and the loader: the model rebuilt from the checkpoint, and
    its held-out loss on all sequences at once as a function of the flat weights (float64)."""
    sequences = _sequences()
    saved = torch.load(checkpoint, weights_only=True)
    task = sequences.Task(**saved["settings"]["task"])
    model = sequences.make_model(task, sequences.Architecture(**saved["settings"]["architecture"]))
    model.load_state_dict(saved["state_dict"])
    model = model.double().eval()
    tokens, targets = sequences.sorting_data(task.n_held_out, task.held_out_seed, task)
    names = [name for name, _ in model.named_parameters()]
    shapes = [p.shape for _, p in model.named_parameters()]
    theta = torch.cat([p.detach().reshape(-1) for _, p in model.named_parameters()])

    def loss(flat: torch.Tensor) -> torch.Tensor:
        params, start = {}, 0
        for name, shape in zip(names, shapes, strict=True):
            size = int(np.prod(shape))
            params[name] = flat[start : start + size].reshape(shape)
            start += size
        logits = torch.func.functional_call(model, params, (tokens,))
        return sequences.token_loss(logits, targets)

    return loss, theta


@pytest.fixture(scope="module")
def dense(direct) -> np.ndarray:
    """Oracle: the dense Hessian of the direct loss (``torch.autograd.functional.hessian``)."""
    loss, theta = direct
    return torch.autograd.functional.hessian(loss, theta).numpy()


def _factory_objective(checkpoint: Path, dtype: torch.dtype = torch.float64):
    from losstopo.objective_factory import objective_from_factory

    return objective_from_factory(FACTORY, checkpoint, torch.device("cpu"), dtype)


def test_the_centre_loss_is_the_factory_objective_and_the_model_on_all_data(
    checkpoint, analysed, direct
):
    landscape = xr.open_dataset(analysed[1]).load()
    objective = _factory_objective(checkpoint)
    assert objective.metadata["objective_batches"] == 2  # 250 + 50 held-out sequences
    centre = landscape.attrs["center_loss"]
    assert centre == pytest.approx(float(objective()), rel=1e-12)
    assert landscape["loss"].values[2, 2] == pytest.approx(centre, rel=1e-10)  # vmap path
    loss, theta = direct
    with torch.no_grad():
        assert float(loss(theta)) == pytest.approx(centre, rel=1e-10)  # one batch, no loader
    assert torch.equal(objective.theta(), theta)
    assert landscape.attrs["objective_factory"] == FACTORY
    assert 0 <= objective.metadata["metrics"]["held_out_accuracy"] <= 1
    assert objective.metadata["fields"] == {"epoch": 1.0}


def test_the_top_eigenpairs_are_those_of_the_dense_hessian(analysed, dense):
    hessian = xr.open_dataset(analysed[0]).load()
    values, vectors = np.linalg.eigh(dense)
    order = np.argsort(-np.abs(values))[:2]
    np.testing.assert_allclose(hessian["eigenvalues"].values, values[order], rtol=1e-6)
    for found, exact in zip(hessian["eigenvectors"].values, vectors[:, order].T, strict=True):
        assert abs(float(found @ exact)) == pytest.approx(1.0, abs=1e-6)


def test_per_layer_curvature_of_the_transformer_is_that_of_the_dense_blocks(
    checkpoint, analysed, dense, tmp_path
):
    out = tmp_path / "curvature.nc"
    argv = ["curvature", str(checkpoint), "--directions", str(analysed[0]), "--per-layer"]
    argv += ["--layer-groups", "module", "--layer-tol", "1e-9", "--layer-max-hvps", "600"]
    argv += ["--layer-probes", "60", "--slq-runs", "1", "--slq-steps", "5", "--grid-points", "50"]
    assert main([*argv, "--objective", FACTORY, "--device", "cpu", "--out", str(out)]) == 0
    data = xr.open_dataset(out).load()
    objective = _factory_objective(checkpoint)
    offsets, start = {}, 0
    for name, p in objective.params.items():
        offsets[name] = np.arange(start, start + p.numel())
        start += p.numel()
    for layer in data["layer"].values:
        members = str(data["layer_parameters"].sel(layer=layer).item()).split(",")
        index = np.concatenate([offsets[name] for name in members])
        block = dense[np.ix_(index, index)]
        spectrum = np.linalg.eigvalsh(block)
        top = spectrum[np.argmax(np.abs(spectrum))]
        found = data["layer_top_eigenvalue"].sel(layer=layer).item()
        assert found == pytest.approx(top, rel=1e-6), layer
        trace, se = (data[v].sel(layer=layer).item() for v in ("layer_trace", "layer_trace_se"))
        assert abs(trace - np.trace(block)) <= 3 * se, layer
    assert "encoder.layers.0.self_attn" in data["layer"].values  # in_proj weight and bias


def test_landscapes_batch_the_attention_without_a_per_point_fallback(checkpoint):
    """Under ``vmap`` the fused encoder fast path and the CPU flash-attention kernel have no
    batching rule (a warning, then one point at a time); the example's attention has one."""
    objective = _factory_objective(checkpoint, torch.float32)
    theta = objective.theta()
    points = torch.stack([theta, theta, 1.01 * theta])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        losses = objective.batched_loss_fn(points)
    assert not [w for w in caught if "batching rule" in str(w.message)]
    assert losses[0] == losses[1]
    assert float(losses[0]) == pytest.approx(float(objective()), rel=1e-6)


def test_a_file_that_is_no_checkpoint_of_the_example_is_one_line(tmp_path, capsys):
    bad = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(2)}, bad)
    argv = ["hessian", str(bad), "--top-k", "1", "--objective", FACTORY]
    assert main([*argv, "--out", str(tmp_path / "h.nc")]) == 2
    err = capsys.readouterr().err
    assert f"{bad} is not a checkpoint of examples/transformer/train.py" in err
    assert err.count("\n") == 1


@pytest.mark.workflow
def test_the_transformer_example_runs_through_the_workflow(tmp_path):
    example = tmp_path / "example"
    shutil.copytree(EXAMPLE, example, ignore=shutil.ignore_patterns("__pycache__"))
    _train(tmp_path / "ckpt", tmp_path)
    config = yaml.safe_load((example / "config.yaml").read_text())
    entry = config["models"][0]
    entry.update(
        checkpoints="ckpt/epoch_*.pt",
        objective=f"{example / 'objective.py'}:make_objective",
        resolution=5,
    )
    path = tmp_path / "transformer.yaml"
    path.write_text(yaml.safe_dump(config))
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile")]
    command += ["--directory", str(tmp_path), "--cores", "2", "--configfile", str(path)]
    result = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    planned = set(re.findall(r"^\s*(?:local)?rule (\w+):", result.stdout + result.stderr, re.M))
    assert planned == {"all", "hessian", "curvature", "landscape", "topology"} | {
        "topology_table",
        "figure",
    }
    table = pd.read_csv(tmp_path / "results/tables/models/sorter_topology_summary.csv")
    assert list(table.checkpoint) == ["epoch_000", "epoch_001"] and list(table.epoch) == [0, 1]
    assert ((table.held_out_accuracy >= 0) & (table.held_out_accuracy <= 1)).all()
    assert table.hessian_trace.notna().all() and (table.hessian_trace_se > 0).all()
    assert not [column for column in table.columns if column.startswith("layer_")]
    for row in table.itertuples():
        analysis = tmp_path / "results/models/sorter" / row.checkpoint
        landscape = xr.open_dataset(analysis / f"landscape_2d_d{entry['distance']:g}.nc")
        assert landscape.loss.shape == (5, 5) and landscape.attrs["dtype"] == "float64"
        assert row.center_loss == pytest.approx(landscape.attrs["center_loss"])
        objective = _factory_objective(tmp_path / "ckpt" / f"{row.checkpoint}.pt")
        assert landscape.attrs["center_loss"] == pytest.approx(float(objective()), rel=1e-12)
    for suffix in ("png", "pdf"):
        assert (
            tmp_path / f"results/figures/models/sorter_profiles.{suffix}"
        ).stat().st_size > 5_000
    shutil.rmtree(tmp_path / ".snakemake", ignore_errors=True)
