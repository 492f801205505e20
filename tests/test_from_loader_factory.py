"""An objective factory that returns a whole-dataset objective (``Objective.from_loader``),
through the command line: ``losstopo hessian`` and ``losstopo landscape`` of its checkpoint
against a dense Hessian of the hand-written mean loss over all 26 examples."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import xarray as xr

# The checkpoint holds a 3 → 4 → 2 classifier and 26 examples; the factory reads them in
# batches of 7 (7, 7, 7, 5).
FACTORY = """
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset
from losstopo import Objective

def make(checkpoint, *, device, dtype):
    saved = torch.load(checkpoint, weights_only=True)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2))
    model.load_state_dict(saved["state_dict"])
    model = model.to(device=device, dtype=dtype)
    data = TensorDataset(saved["inputs"].float(), saved["targets"])
    return Objective.from_loader(model, F.cross_entropy, DataLoader(data, batch_size=7))
"""


def checkpoint(path: Path) -> dict:
    generator = torch.Generator().manual_seed(3)
    torch.manual_seed(3)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2))
    inputs = torch.randn(26, 3, generator=generator).double()
    targets = (inputs[:, 0] - inputs[:, 2] > 0).long()
    saved = {"state_dict": model.double().state_dict(), "inputs": inputs, "targets": targets}
    torch.save(saved, path)
    return saved


def mean_loss(flat: torch.Tensor, saved: dict) -> torch.Tensor:
    """Mean cross-entropy over all 26 examples, written out by hand (float32 data, as the
    factory's loader holds them)."""
    inputs = saved["inputs"].float().double()
    w0, b0 = flat[:12].reshape(4, 3), flat[12:16]
    w2, b2 = flat[16:24].reshape(2, 4), flat[24:26]
    logits = torch.tanh(inputs @ w0.T + b0) @ w2.T + b2
    picked = logits.gather(1, saved["targets"][:, None])[:, 0]
    return (torch.logsumexp(logits, dim=1) - picked).mean()


def run(args: list[str], cwd: Path, env: dict[str, str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "losstopo", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr


def test_hessian_and_landscape_of_a_loader_factory_match_the_dense_oracle(tmp_path, subprocess_env):
    (tmp_path / "factory.py").write_text(FACTORY)
    saved = checkpoint(tmp_path / "model.pt")
    common = ["--objective", "factory.py:make", "--dtype", "float64", "--device", "cpu"]
    run(
        ["hessian", "model.pt", "--top-k", "2", "--tol", "1e-9", *common, "--out", "h.nc"],
        tmp_path,
        subprocess_env,
    )
    grid = ["--dims", "2", "--resolution", "3", "--distance", "0.2"]
    run(
        ["landscape", "model.pt", "--directions", "h.nc", *grid, *common, "--out", "l.nc"],
        tmp_path,
        subprocess_env,
    )

    theta = torch.cat([t.reshape(-1) for t in saved["state_dict"].values()])
    dense = torch.autograd.functional.hessian(lambda flat: mean_loss(flat, saved), theta)
    values = np.linalg.eigvalsh(dense.numpy())
    top = values[np.argsort(-np.abs(values))[:2]]
    with xr.open_dataset(tmp_path / "h.nc") as hessian:
        np.testing.assert_allclose(hessian["eigenvalues"].values, top, rtol=1e-7)
        attrs = dict(hessian.attrs)
    assert attrs["objective_batch_size"] == 7
    assert (attrs["objective_examples"], attrs["objective_batches"]) == (26, 4)
    assert "all 26 examples in 4 batches" in attrs["objective"]
    with xr.open_dataset(tmp_path / "l.nc") as landscape:
        center = float(landscape["loss"].values[1, 1])
        assert "all 26 examples in 4 batches" in landscape.attrs["objective"]
    assert center == pytest.approx(float(mean_loss(theta, saved)), rel=1e-12)
