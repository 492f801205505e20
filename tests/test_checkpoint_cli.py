"""Checkpoint contract, objective rebuilding, and the CLI's behaviour on good and bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from losstopo.cli import main
from losstopo.errors import LosstopoError
from losstopo.io.checkpoint import load_checkpoint
from losstopo.problems import get_problem
from losstopo.problems.loading import load_objective

FAST = ["--iterations", "5", "--threads", "1", "--device", "cpu"]


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("run")
    assert (
        main(["train-pinn", "--beta", "2", "--lr", "1.0", "--seed", "4", *FAST, "--out", str(out)])
        == 0
    )
    return out


def test_checkpoint_round_trip_weights_only(trained_run):
    raw = torch.load(trained_run / "model.pt", map_location="cpu", weights_only=True)
    for key in ("problem", "hparams", "state_dict", "metrics", "seed", "device", "iteration"):
        assert key in raw
    assert raw["problem"] == "convection" and raw["seed"] == 4
    assert raw["hparams"]["beta"] == 2.0 and raw["hparams"]["hidden"] == [50, 50, 50, 50]
    model = get_problem("convection").build_model(raw["hparams"])
    model.load_state_dict(raw["state_dict"])
    reloaded = {k: v for k, v in model.state_dict().items()}
    assert all(torch.equal(reloaded[k], raw["state_dict"][k]) for k in reloaded)


def test_metrics_json_contract(trained_run):
    metrics = json.loads((trained_run / "metrics.json").read_text())
    for key in (
        "relative_l2_error",
        "abs_error",
        "linf_relative_error",
        "final_loss",
        "iterations",
        "seconds",
        "diverged",
        "beta",
        "lr",
        "seed",
        "losstopo_version",
        "torch_version",
        "created",
    ):
        assert key in metrics
    assert metrics["diverged"] is False
    assert 0 < metrics["relative_l2_error"] < 10


def test_objective_reproduces_the_recorded_loss(trained_run):
    """The rebuilt objective at θ equals the loss training reported (same data, same weights)."""
    objective = load_objective(trained_run / "model.pt", torch.device("cpu"), torch.float32)
    metrics = json.loads((trained_run / "metrics.json").read_text())
    assert float(objective()) == pytest.approx(metrics["final_loss"], rel=1e-6)
    assert objective.n_parameters == 7851
    theta = objective.theta()
    back = objective.unflatten(theta)
    assert all(torch.equal(back[k], objective.params[k]) for k in back)
    # shifting θ changes the loss: the objective really is a function of its argument
    shifted = objective.unflatten(theta + 0.1)
    assert float(objective(shifted)) != pytest.approx(float(objective()))


def test_objective_is_differentiable_with_torch_func(trained_run):
    objective = load_objective(trained_run / "model.pt", torch.device("cpu"), torch.float64)
    grads = torch.func.grad(objective.loss_fn)(objective.params)
    params = {k: v.clone().requires_grad_(True) for k, v in objective.params.items()}
    objective(params).backward()
    for name in grads:
        torch.testing.assert_close(grads[name], params[name].grad, rtol=1e-10, atol=1e-12)


def test_load_checkpoint_errors(tmp_path):
    with pytest.raises(LosstopoError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.pt")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(LosstopoError, match=r"bad\.pt is not a readable checkpoint"):
        load_checkpoint(bad)
    partial = tmp_path / "partial.pt"
    torch.save({"problem": "convection"}, partial)
    with pytest.raises(LosstopoError, match="lacks hparams"):
        load_checkpoint(partial)
    unknown = tmp_path / "unknown.pt"
    torch.save(
        {
            "problem": "nope",
            "hparams": {},
            "state_dict": {},
            "metrics": {},
            "seed": 0,
            "device": "cpu",
        },
        unknown,
    )
    with pytest.raises(LosstopoError, match="unknown problem 'nope'"):
        load_objective(unknown, torch.device("cpu"))


class _RunsAShellCommand:
    """A pickle payload that would run a shell command if it were unpickled unsafely."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        import os

        return (os.system, (f"touch {self.marker}",))


def test_refused_pickle_names_the_blocked_global(tmp_path):
    marker = tmp_path / "EXECUTED"
    hostile = tmp_path / "hostile.pt"
    torch.save({"hparams": {}, "state_dict": _RunsAShellCommand(marker)}, hostile)
    with pytest.raises(LosstopoError) as info:
        load_checkpoint(hostile)
    message = str(info.value)
    assert "hostile.pt" in message
    assert "GLOBAL posix.system" in message or "GLOBAL nt.system" in message
    assert "weights_only` set to `False`" not in message  # never advise the unsafe reload
    assert "\n" not in message
    assert not marker.exists()


def _cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "losstopo", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--beta", "-1", "--lr", "1", "--seed", "0"], "beta must be a finite number >= 0"),
        (["--beta", "1", "--lr", "0", "--seed", "0"], "lr must be a finite number > 0"),
        (
            ["--beta", "1", "--lr", "1", "--seed", "0", "--optimizer", "sgd"],
            "argument --optimizer: invalid choice: 'sgd'",
        ),
        (["--beta", "x", "--lr", "1", "--seed", "0"], "argument --beta: invalid float value"),
        (
            ["--beta", "1", "--lr", "1", "--seed", "0", "--iterations", "0"],
            "argument --iterations: must be >= 1",
        ),
    ],
)
def test_train_pinn_rejects_bad_arguments_in_one_line(args, needle, tmp_path, subprocess_env):
    out = tmp_path / "run"
    result = _cli(["train-pinn", *args, *FAST[2:], "--out", str(out)], subprocess_env)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], result.stderr
    assert not out.exists()


def test_train_pinn_unwritable_output(tmp_path, subprocess_env):
    blocker = tmp_path / "a_file"
    blocker.write_text("keep me")
    result = _cli(
        [
            "train-pinn",
            "--beta",
            "1",
            "--lr",
            "1",
            "--seed",
            "0",
            *FAST,
            "--out",
            str(blocker / "run"),
        ],
        subprocess_env,
    )
    assert result.returncode == 2
    assert result.stderr.strip().startswith("losstopo: error: cannot create output directory")
    assert len(result.stderr.strip().splitlines()) == 1
    assert blocker.read_text() == "keep me"


def test_cuda_request_without_cuda_is_one_clear_error(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    code = main(
        [
            "train-pinn",
            "--beta",
            "1",
            "--lr",
            "1",
            "--seed",
            "0",
            "--iterations",
            "1",
            "--device",
            "cuda",
            "--out",
            str(tmp_path / "run"),
        ]
    )
    assert code == 2


def test_divergent_run_writes_diverged_true(tmp_path):
    out = tmp_path / "run"
    assert (
        main(["train-pinn", "--beta", "1e30", "--lr", "1", "--seed", "0", *FAST, "--out", str(out)])
        == 0
    )
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["diverged"] is True


def test_python_m_losstopo_help(subprocess_env):
    result = _cli(["train-pinn", "--help"], subprocess_env)
    assert result.returncode == 0
    assert "--iterations" in result.stdout and "default: 1000" in result.stdout


def test_a_flipped_bit_in_the_weights_is_reported_as_corruption(tmp_path):
    """torch's zip reader does not check CRCs: the saved weights checksum catches a flipped
    bit that would otherwise load as silently different weights."""
    from losstopo.io.checkpoint import save_checkpoint

    marker = torch.arange(64, dtype=torch.float64) + 0.123456789
    checkpoint = {
        "problem": "convection",
        "hparams": {},
        "state_dict": {"layer.weight": marker.clone()},
        "metrics": {},
        "seed": 0,
        "device": "cpu",
    }
    path = tmp_path / "model.pt"
    save_checkpoint(path, checkpoint)
    assert torch.equal(load_checkpoint(path)["state_dict"]["layer.weight"], marker)
    data = bytearray(path.read_bytes())
    offset = bytes(data).index(marker.numpy().tobytes())
    data[offset + 8 * 17 + 3] ^= 0x10  # one bit of the 18th weight
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(bytes(data))
    flipped = torch.load(corrupt, weights_only=True)["state_dict"]["layer.weight"]
    assert not torch.equal(flipped, marker)  # torch itself loads it without complaint
    with pytest.raises(LosstopoError, match=r"corrupt\.pt is corrupt: its weights do not match"):
        load_checkpoint(corrupt)
