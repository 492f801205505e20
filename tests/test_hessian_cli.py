"""``losstopo hessian``: the hessian.nc contract, oracle values and bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import xarray as xr

from losstopo.cli import main
from losstopo.problems.loading import load_objective

SMALL = ["--hidden", "8,8", "--iterations", "30", "--device", "cpu"]


@pytest.fixture(scope="module")
def small_checkpoint(tmp_path_factory):
    out = tmp_path_factory.mktemp("pinn")
    assert (
        main(["train-pinn", "--beta", "3", "--lr", "1", "--seed", "0", *SMALL, "--out", str(out)])
        == 0
    )
    return out / "model.pt"


def _dense_eigh(checkpoint):
    objective = load_objective(checkpoint, torch.device("cpu"), torch.float64)
    theta = objective.theta()
    dense = torch.autograd.functional.hessian(lambda v: objective(objective.unflatten(v)), theta)
    return objective, np.linalg.eigh(dense.numpy())


def test_hessian_file_matches_dense_eigh(small_checkpoint, tmp_path):
    out = tmp_path / "hessian.nc"
    assert (
        main(
            [
                "hessian",
                str(small_checkpoint),
                "--top-k",
                "3",
                "--tol",
                "1e-9",
                "--device",
                "cpu",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    ds = xr.open_dataset(out)
    objective, (values, vectors) = _dense_eigh(small_checkpoint)
    order = np.argsort(-np.abs(values))[:3]
    np.testing.assert_allclose(ds.eigenvalues.values, values[order], rtol=1e-8)
    for i, j in enumerate(order):
        assert abs(abs(ds.eigenvectors.values[i] @ vectors[:, j]) - 1) < 1e-6
    assert ds.eigenvectors.shape == (3, objective.n_parameters)
    assert json.loads(ds.attrs["parameter_names"]) == objective.parameter_names
    assert json.loads(ds.attrs["parameter_shapes"]) == objective.parameter_shapes
    assert ds.attrs["method"] == "lanczos" and ds.attrs["which"] == "LM"
    assert ds.attrs["n_hvp"] > 3 and ds.attrs["tolerance"] == 1e-9
    assert ds.attrs["source_sha256"] and "convection" in ds.attrs["objective"]
    assert ds.converged.values.tolist() == [1, 1, 1]
    assert np.all(ds.residual.values <= 1e-9)


def test_power_method_file(small_checkpoint, tmp_path):
    out = tmp_path / "hessian_power.nc"
    assert (
        main(
            [
                "hessian",
                str(small_checkpoint),
                "--top-k",
                "2",
                "--method",
                "power",
                "--device",
                "cpu",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    ds = xr.open_dataset(out)
    _, (values, _) = _dense_eigh(small_checkpoint)
    top = values[np.argsort(-np.abs(values))[:2]]
    assert ds.attrs["method"] == "power"
    np.testing.assert_allclose(ds.eigenvalues.values, top, rtol=1e-2)


def test_unconverged_pairs_are_flagged(small_checkpoint, tmp_path, caplog):
    out = tmp_path / "hessian.nc"
    assert (
        main(
            [
                "hessian",
                str(small_checkpoint),
                "--top-k",
                "3",
                "--tol",
                "1e-13",
                "--max-hvp",
                "6",
                "--device",
                "cpu",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    ds = xr.open_dataset(out)
    assert ds.attrs["n_hvp"] == 6
    assert ds.converged.values.min() == 0 and ds.attrs["all_converged"] == 0
    assert "did not converge" in caplog.text


def _exit_code(args: list[str]) -> int:
    """Exit status of the CLI, whether argparse exits or ``main`` returns."""
    try:
        return main(args)
    except SystemExit as exc:
        return int(exc.code)


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--top-k", "100000"], "--top-k 100000 must be between 1 and the parameter count"),
        (["--top-k", "2", "--tol", "0"], "argument --tol: must be a finite number > 0"),
        (["--top-k", "2", "--tol=-1e-3"], "argument --tol: must be a finite number > 0"),
    ],
)
def test_bad_requests_write_nothing(small_checkpoint, tmp_path, capsys, extra, needle):
    out = tmp_path / "hessian.nc"
    args = ["hessian", str(small_checkpoint), *extra, "--device", "cpu", "--out", str(out)]
    assert _exit_code(args) == 2
    assert needle in capsys.readouterr().err
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_unknown_problem_checkpoint(tmp_path, capsys):
    ckpt = tmp_path / "other.pt"
    torch.save(
        {
            "problem": "vision",
            "hparams": {},
            "state_dict": {},
            "metrics": {},
            "seed": 0,
            "device": "cpu",
        },
        ckpt,
    )
    out = tmp_path / "hessian.nc"
    assert main(["hessian", str(ckpt), "--top-k", "2", "--out", str(out)]) == 2
    assert "unknown problem 'vision'" in capsys.readouterr().err
    assert not out.exists()
