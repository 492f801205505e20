"""Bad input ends in one line and exit 2 with nothing damaged; outputs get the mode of a plain
open(); an output never replaces an input."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from losstopo.cli import main
from losstopo.io.atomic import write_atomic


@pytest.fixture(scope="module")
def run(tmp_path_factory, small_pinn_with_hessian) -> Path:
    out = tmp_path_factory.mktemp("reliability") / "run"
    small_pinn_with_hessian(out, seed=0, iterations=10, top_k=2)
    args = ["landscape", str(out / "model.pt"), "--directions", str(out / "hessian.nc")]
    args += ["--dims", "2", "--resolution", "5", "--distance", "0.1", "--device", "cpu"]
    assert main([*args, "--out", str(out / "landscape.nc")]) == 0
    return out


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    errors = [line for line in err if not line.startswith(("INFO", "WARNING"))]
    assert len(errors) == 1 and errors[0].startswith("losstopo: error:"), err
    assert "Traceback" not in "\n".join(err)
    return errors[0]


@pytest.mark.parametrize(
    ("command", "inputs", "out"),
    [
        (["hessian", "{run}/model.pt", "--top-k", "1"], ["model.pt"], "model.pt"),
        (
            [
                *("landscape", "{run}/model.pt", "--directions", "{run}/hessian.nc"),
                *("--dims", "1", "--resolution", "3", "--distance", "0.1"),
            ],
            ["hessian.nc"],
            "hessian.nc",
        ),
        (["topology", "{run}/landscape.nc"], ["landscape.nc"], "landscape.nc"),
        (["topology", "{run}/landscape.nc"], ["landscape.nc"], "./sub/../landscape.nc"),
        (["pinn-table", "{run}/metrics.json"], ["metrics.json"], "metrics.json"),
    ],
)
def test_an_output_never_replaces_an_input(run, capsys, command, inputs, out):
    (run / "sub").mkdir(exist_ok=True)
    before = {name: _digest(run / name) for name in inputs}
    args = [part.format(run=run) for part in command]
    assert main([*args, "--out", str(run / out)]) == 2
    line = _one_error_line(capsys)
    assert "is the input" in line
    assert {name: _digest(run / name) for name in inputs} == before


def test_an_output_linked_to_an_input_is_refused(run, tmp_path, capsys):
    link = tmp_path / "alias.nc"
    link.symlink_to(run / "landscape.nc")
    before = _digest(run / "landscape.nc")
    assert main(["topology", str(run / "landscape.nc"), "--out", str(link)]) == 2
    assert "is the input" in _one_error_line(capsys)
    assert _digest(run / "landscape.nc") == before


@pytest.mark.parametrize(
    "args",
    [
        ["hessian", "{run}/model.pt", "--top-k", "1", "--tol", "inf"],
        ["hessian", "{run}/model.pt", "--top-k", "1", "--tol", "nan"],
        ["topology", "{run}/landscape.nc", "--persistence-threshold", "nan"],
        ["topology", "{run}/landscape.nc", "--summary-threshold", "nan"],
        ["topology", "{run}/landscape.nc", "--log-threshold", "inf"],
        ["train-unet", "--data", "x", "--lr", "inf", "--seed", "0", "--epochs", "1"],
        ["train-unet", "--data", "x", "--lr", "1", "--seed", "0", "--weight-decay", "nan"],
    ],
)
def test_non_finite_numbers_are_rejected(run, tmp_path, capsys, args):
    out = tmp_path / "out.nc"
    with pytest.raises(SystemExit) as exit_info:
        main([*(a.format(run=run) for a in args), "--out", str(out)])
    assert exit_info.value.code == 2
    assert "finite number" in capsys.readouterr().err
    assert not out.exists()


def test_profile_threshold_nan_is_rejected(run, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["figure", "profiles", f"{run}:2", "--columns", "1", "--threshold", "nan",
              "--out", str(tmp_path / "p.png")])  # fmt: skip
    assert exit_info.value.code == 2 and "finite number" in capsys.readouterr().err


@pytest.mark.parametrize("fault", ["nan", "zero"])
def test_bad_direction_files_are_rejected(run, tmp_path, capsys, fault):
    hessian = xr.load_dataset(run / "hessian.nc")
    vectors = hessian["eigenvectors"].values.copy()
    if fault == "nan":
        vectors[1, 3] = np.nan
    else:
        vectors[1] = 0.0
    hessian["eigenvectors"] = (hessian["eigenvectors"].dims, vectors)
    bad = tmp_path / "hessian.nc"
    hessian.to_netcdf(bad)
    out = tmp_path / "landscape.nc"
    args = ["landscape", str(run / "model.pt"), "--directions", str(bad), "--dims", "2"]
    args += ["--resolution", "3", "--distance", "0.1", "--device", "cpu"]
    assert main([*args, "--out", str(out)]) == 2
    line = _one_error_line(capsys)
    assert "direction 1" in line and ("non-finite" in line or "zero everywhere" in line)
    assert not out.exists()


def test_unexpected_errors_become_one_line_and_debug_shows_the_traceback(run, tmp_path, capsys):
    fake = tmp_path / "notes.pt"
    fake.write_text("this is not a checkpoint\n")
    out = tmp_path / "hessian.nc"
    assert main(["hessian", str(fake), "--top-k", "1", "--out", str(out)]) == 2
    line = _one_error_line(capsys)
    assert str(fake) in line and "not a readable checkpoint" in line
    # the last-resort handler: an error no reader anticipated is one line too
    assert main(["topology", str(tmp_path), "--out", str(tmp_path / "t.nc")]) == 2
    _one_error_line(capsys)
    assert not out.exists()


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_atomic_writes_get_the_mode_of_a_plain_open(tmp_path, umask):
    old = os.umask(umask)
    try:
        plain = tmp_path / "plain.txt"
        with open(plain, "w") as handle:
            handle.write("x")
        atomic = tmp_path / "atomic.txt"
        write_atomic(atomic, lambda tmp: tmp.write_text("x"))
    finally:
        os.umask(old)
    assert (atomic.stat().st_mode & 0o777) == (plain.stat().st_mode & 0o777)
    assert (atomic.stat().st_mode & 0o777) == 0o666 & ~umask


def test_cli_outputs_are_readable_by_the_group_under_umask_022(run, tmp_path):
    old = os.umask(0o022)
    try:
        shutil.copy(run / "landscape.nc", tmp_path / "landscape.nc")
        assert (
            main(["topology", str(tmp_path / "landscape.nc"), "--out", str(tmp_path / "t.nc")]) == 0
        )
    finally:
        os.umask(old)
    assert ((tmp_path / "t.nc").stat().st_mode & 0o777) == 0o644


def test_malformed_tables_and_configs_are_one_line_naming_the_file(tmp_path, capsys):
    table = tmp_path / "table.csv"
    table.write_bytes(b'a,b\n"1,2\n\xff\xfe')
    out = tmp_path / "fig.png"
    for command in (
        ["figure", "pinn-heatmap", str(table)],
        ["figure", "unet-heatmap", str(table)],
        ["figure", "topology-vs-error", str(table)],
        ["figure", "extent-study", str(table)],
    ):
        assert main([*command, "--out", str(out)]) == 2
        assert str(table) in _one_error_line(capsys)
    assert not out.exists()
    metrics = tmp_path / "metrics.json"
    metrics.write_bytes(b"\x80\x81 not json")
    assert main(["pinn-table", str(metrics), "--out", str(tmp_path / "t.csv")]) == 2
    assert str(metrics) in _one_error_line(capsys)
    config = tmp_path / "bad.yaml"
    config.write_text("pinn: [unclosed\n")
    assert main(["estimate", "--config", str(config)]) == 2
    line = _one_error_line(capsys)
    assert str(config) in line and "YAML" in line


def test_an_output_that_is_a_directory_is_refused(run, tmp_path, capsys):
    assert main(["topology", str(run / "landscape.nc"), "--out", str(tmp_path)]) == 2
    assert "is a directory" in _one_error_line(capsys)


@pytest.mark.parametrize("value", [str(2**64), "-1"])
def test_seeds_beyond_64_bits_are_rejected(tmp_path, capsys, value):
    with pytest.raises(SystemExit) as exit_info:
        main(["train-pinn", "--beta", "1", "--lr", "1", "--seed", value, "--out", str(tmp_path)])
    assert exit_info.value.code == 2
    assert "--seed: must be an integer in [0, 2**63)" in capsys.readouterr().err


@pytest.mark.parametrize("fault", ["shape", "hparams", "nan"])
def test_checkpoints_that_do_not_rebuild_name_the_file(run, tmp_path, capsys, fault):
    import torch

    checkpoint = torch.load(run / "model.pt", weights_only=True)
    if fault == "shape":
        name = next(iter(checkpoint["state_dict"]))
        checkpoint["state_dict"][name] = torch.zeros(3, 3)
    elif fault == "hparams":
        checkpoint["hparams"]["no_such_option"] = 1
    else:
        name = next(iter(checkpoint["state_dict"]))
        checkpoint["state_dict"][name] = checkpoint["state_dict"][name] * float("nan")
    bad = tmp_path / "bad.pt"
    torch.save(checkpoint, bad)
    out = tmp_path / "hessian.nc"
    assert main(["hessian", str(bad), "--top-k", "1", "--out", str(out)]) == 2
    line = _one_error_line(capsys)
    assert str(bad) in line
    assert not out.exists()
