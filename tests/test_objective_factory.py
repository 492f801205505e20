"""Objectives of the user's own models: factory loading, its errors, and the CLI end to end.

The oracles are independent of losstopo's own machinery: a dense Hessian from
``torch.autograd.functional.hessian`` of a hand-written loss and ``numpy.linalg.eigh`` for
``losstopo hessian``; the same hand-written loss at θ + a0·d0 + a1·d1, with the layer
normalisation done in numpy, for every point of ``losstopo landscape``.
"""

from __future__ import annotations

import importlib.util
import itertools
import json
import math
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
import xarray as xr

from losstopo.errors import LosstopoError
from losstopo.objective import Objective
from losstopo.objective_factory import load_factory, objective_from_factory, parse_spec

REPO = Path(__file__).resolve().parents[1]
OWN_MODEL = REPO / "examples" / "own_model"
CPU = torch.device("cpu")

# A tiny classifier 3 → 4 → 2 (26 parameters); the checkpoint holds its weights and data.
FACTORY = """
import math
import torch
import torch.nn.functional as F
from losstopo import Objective

def build(checkpoint, device, dtype):
    saved = torch.load(checkpoint, weights_only=True)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2))
    model.load_state_dict(saved["state_dict"])
    model = model.to(device=device, dtype=dtype)
    inputs = saved["inputs"].to(device=device, dtype=dtype)
    return Objective.from_module(model, F.cross_entropy, (inputs, saved["targets"]))

def make(checkpoint, *, device, dtype):
    objective = build(checkpoint, device, dtype)
    objective.metadata["metrics"] = {"accuracy": 0.75, "calibration": math.nan}
    return objective
"""


@pytest.fixture(autouse=True)
def _restore_import_state():
    """Loading a factory file puts its folder on ``sys.path`` and the module in
    ``sys.modules``; undo both so that tests do not see each other's factories."""
    path, modules = list(sys.path), set(sys.modules)
    yield
    sys.path[:] = path
    for name in set(sys.modules) - modules:
        if name == "spirals" or name.startswith(
            ("losstopo_user_", "factory_module_", "own_model_")
        ):
            del sys.modules[name]


def tiny_checkpoint(path: Path, seed: int = 0) -> Path:
    """Random float64 weights and a fixed batch of 24 points in two classes."""
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2))
    model = model.double()
    inputs = torch.randn(24, 3, generator=generator, dtype=torch.float64)
    targets = (inputs[:, 0] + 0.5 * inputs[:, 1] > 0).long()
    torch.save({"state_dict": model.state_dict(), "inputs": inputs, "targets": targets}, path)
    return path


def write_factory(folder: Path, body: str, name: str = "factory.py") -> Path:
    path = folder / name
    path.write_text(FACTORY + textwrap.dedent(body))
    return path


def assert_one_line_error(excinfo: pytest.ExceptionInfo, *names: str) -> str:
    message = str(excinfo.value)
    assert "\n" not in message, message
    for name in names:
        assert name in message, (name, message)
    return message


# --- spec parsing and loading -----------------------------------------------------------


@pytest.mark.parametrize("spec", ["factory.py", "module.function", "factory.py:1make", ":make"])
def test_malformed_spec_is_rejected_naming_it(spec):
    with pytest.raises(LosstopoError) as excinfo:
        parse_spec(spec)
    assert_one_line_error(excinfo, repr(spec))


@pytest.mark.parametrize("spec", ["factory.py:", "factory.py:make-it", "pkg.mod:a b"])
def test_bad_identifier_is_rejected_by_load_factory(spec):
    with pytest.raises(LosstopoError) as excinfo:
        load_factory(spec)
    assert_one_line_error(excinfo, repr(spec))


def test_spec_splits_at_the_last_colon():
    # a Windows drive letter or any other colon in the path stays part of the path
    assert parse_spec("C:/models/factory.py:make") == ("C:/models/factory.py", "make")
    assert parse_spec("pkg.module:make_objective") == ("pkg.module", "make_objective")


def test_missing_factory_file(tmp_path):
    missing = tmp_path / "nowhere.py"
    with pytest.raises(LosstopoError) as excinfo:
        load_factory(f"{missing}:make")
    assert_one_line_error(excinfo, str(missing), "does not exist")


def test_factory_file_whose_import_raises(tmp_path):
    path = tmp_path / "broken.py"
    path.write_text("import torch\nraise RuntimeError('no GPU here')\n")
    with pytest.raises(LosstopoError) as excinfo:
        load_factory(f"{path}:make")
    assert_one_line_error(excinfo, str(path), "RuntimeError", "no GPU here")


def test_factory_file_with_a_syntax_error(tmp_path):
    path = tmp_path / "typo.py"
    path.write_text("def make(:\n")
    with pytest.raises(LosstopoError) as excinfo:
        load_factory(f"{path}:make")
    assert_one_line_error(excinfo, str(path), "SyntaxError")


def test_missing_function(tmp_path):
    path = write_factory(tmp_path, "")
    spec = f"{path}:make_objective"
    with pytest.raises(LosstopoError) as excinfo:
        load_factory(spec)
    assert_one_line_error(excinfo, spec, "'make_objective'")


def test_name_that_is_not_a_function(tmp_path):
    path = write_factory(tmp_path, "make_objective = 3\n")
    with pytest.raises(LosstopoError) as excinfo:
        load_factory(f"{path}:make_objective")
    assert_one_line_error(excinfo, str(path), "'make_objective'")


def test_missing_module():
    with pytest.raises(LosstopoError) as excinfo:
        load_factory("factory_module_that_does_not_exist:make")
    assert_one_line_error(excinfo, "'factory_module_that_does_not_exist'", "ModuleNotFoundError")


def test_module_function_spec_loads_from_sys_path(tmp_path, monkeypatch):
    write_factory(tmp_path, "", name="factory_module_tiny.py")
    monkeypatch.syspath_prepend(str(tmp_path))
    factory = load_factory("factory_module_tiny:make")
    assert factory.__module__ == "factory_module_tiny"
    checkpoint = tiny_checkpoint(tmp_path / "model.pt")
    objective = objective_from_factory("factory_module_tiny:make", checkpoint, CPU, torch.float64)
    assert isinstance(objective, Objective) and objective.n_parameters == 26
    # NaN metrics are allowed (a diverged model has no calibration), and kept as they are
    assert objective.metadata["metrics"]["accuracy"] == 0.75
    assert math.isnan(objective.metadata["metrics"]["calibration"])


def test_factory_file_can_import_its_neighbours(tmp_path):
    (tmp_path / "factory_module_helper.py").write_text("SCALE = 2.0\n")
    path = write_factory(
        tmp_path,
        """
        from factory_module_helper import SCALE

        def scaled(checkpoint, *, device, dtype):
            objective = build(checkpoint, device, dtype)
            objective.metadata["metrics"] = {"scale": SCALE}
            return objective
        """,
    )
    checkpoint = tiny_checkpoint(tmp_path / "model.pt")
    objective = objective_from_factory(f"{path}:scaled", checkpoint, CPU, torch.float32)
    assert objective.metadata["metrics"] == {"scale": 2.0}
    assert objective.theta().dtype == torch.float32


# --- what the factory returns -----------------------------------------------------------

BAD_FACTORIES = {
    "returns_a_module": (
        """
        def bad(checkpoint, *, device, dtype):
            return torch.nn.Linear(3, 2)
        """,
        ["Linear", "not a losstopo.Objective"],
    ),
    "returns_none": (
        """
        def bad(checkpoint, *, device, dtype):
            return None
        """,
        ["NoneType", "not a losstopo.Objective"],
    ),
    "raises": (
        """
        def bad(checkpoint, *, device, dtype):
            raise KeyError("state_dict")
        """,
        ["KeyError", "state_dict"],
    ),
    "raises_a_multi_line_error": (
        """
        def bad(checkpoint, *, device, dtype):
            raise ValueError("checkpoint format 2 is unknown\\nsupported: 1")
        """,
        ["ValueError", "checkpoint format 2 is unknown"],
    ),
    "wrong_signature": (
        """
        def bad(checkpoint):
            return build(checkpoint, None, torch.float64)
        """,
        ["TypeError"],
    ),
    "nan_weights": (
        """
        def bad(checkpoint, *, device, dtype):
            objective = build(checkpoint, device, dtype)
            objective.params["0.weight"][1, 2] = math.nan
            objective.params["2.bias"][0] = math.inf
            return objective
        """,
        ["2 non-finite weights"],
    ),
    "metrics_not_a_dict": (
        """
        def bad(checkpoint, *, device, dtype):
            objective = build(checkpoint, device, dtype)
            objective.metadata["metrics"] = [0.9, 0.8]
            return objective
        """,
        ["metadata['metrics']", "must be a dict, got list"],
    ),
    "metric_inf": (
        """
        def bad(checkpoint, *, device, dtype):
            objective = build(checkpoint, device, dtype)
            objective.metadata["metrics"] = {"accuracy": 0.9, "loss": math.inf}
            return objective
        """,
        ["metadata['metrics']", "inf"],
    ),
    "metric_a_string": (
        """
        def bad(checkpoint, *, device, dtype):
            objective = build(checkpoint, device, dtype)
            objective.metadata["metrics"] = {"accuracy": "93%"}
            return objective
        """,
        ["metadata['metrics']", "93%"],
    ),
    "metric_a_bool": (
        """
        def bad(checkpoint, *, device, dtype):
            objective = build(checkpoint, device, dtype)
            objective.metadata["metrics"] = {"converged": True}
            return objective
        """,
        ["metadata['metrics']", "converged"],
    ),
    "metric_a_vector": (
        """
        def bad(checkpoint, *, device, dtype):
            objective = build(checkpoint, device, dtype)
            objective.metadata["metrics"] = {"accuracy": torch.tensor([0.9, 0.8])}
            return objective
        """,
        ["metadata['metrics']", "accuracy"],
    ),
    "field_inf": (
        """
        def bad(checkpoint, *, device, dtype):
            objective = build(checkpoint, device, dtype)
            objective.metadata["fields"] = {"epoch": math.inf}
            return objective
        """,
        ["metadata['fields']", "epoch"],
    ),
    "ignores_the_dtype": (
        """
        def bad(checkpoint, *, device, dtype):
            return build(checkpoint, device, torch.float64)
        """,
        ["torch.float64", "asked for torch.float32"],
    ),
}


@pytest.mark.parametrize("case", list(BAD_FACTORIES))
def test_bad_factory_result_is_one_line_naming_the_spec(tmp_path, case):
    body, fragments = BAD_FACTORIES[case]
    path = write_factory(tmp_path, body)
    spec = f"{path}:bad"
    checkpoint = tiny_checkpoint(tmp_path / "model.pt")
    dtype = torch.float32 if case == "ignores_the_dtype" else torch.float64
    with pytest.raises(LosstopoError) as excinfo:
        objective_from_factory(spec, checkpoint, CPU, dtype)
    assert_one_line_error(excinfo, repr(spec), *fragments)


def test_numpy_and_zero_dimensional_tensor_metrics_become_floats(tmp_path):
    path = write_factory(
        tmp_path,
        """
        def typed(checkpoint, *, device, dtype):
            import numpy as np

            objective = build(checkpoint, device, dtype)
            objective.metadata["metrics"] = {
                "accuracy": np.float32(0.75),
                "loss": torch.tensor(0.5, dtype=torch.float64),
            }
            objective.metadata["fields"] = {"epoch": np.int64(3)}
            return objective
        """,
    )
    checkpoint = tiny_checkpoint(tmp_path / "model.pt")
    objective = objective_from_factory(f"{path}:typed", checkpoint, CPU, torch.float64)
    assert objective.metadata["metrics"] == {"accuracy": 0.75, "loss": 0.5}
    assert objective.metadata["fields"] == {"epoch": 3.0}
    assert all(type(v) is float for v in objective.metadata["metrics"].values())


def test_missing_checkpoint_is_named_before_the_factory_runs(tmp_path):
    path = write_factory(tmp_path, "")
    missing = tmp_path / "epoch_9.pt"
    with pytest.raises(LosstopoError) as excinfo:
        objective_from_factory(f"{path}:make", missing, CPU, torch.float64)
    assert_one_line_error(excinfo, str(missing), "does not exist")


# --- the command line against independent oracles ---------------------------------------


def tiny_loss(flat: torch.Tensor, saved: dict) -> torch.Tensor:
    """Mean cross-entropy of the 3 → 4 → 2 tanh network, written out by hand; ``flat`` holds
    the weights in ``named_parameters()`` order (0.weight, 0.bias, 2.weight, 2.bias)."""
    w0, b0 = flat[:12].reshape(4, 3), flat[12:16]
    w2, b2 = flat[16:24].reshape(2, 4), flat[24:26]
    logits = torch.tanh(saved["inputs"] @ w0.T + b0) @ w2.T + b2
    log_z = torch.logsumexp(logits, dim=1)
    picked = logits.gather(1, saved["targets"][:, None])[:, 0]
    return (log_z - picked).mean()


def run_cli(args: list[str], cwd: Path, env: dict[str, str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "losstopo", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr


def test_cli_hessian_and_landscape_of_a_factory_objective_match_dense_oracles(
    tmp_path, subprocess_env
):
    write_factory(tmp_path, "")
    tiny_checkpoint(tmp_path / "model.pt")
    common = ["--objective", "factory.py:make", "--dtype", "float64", "--device", "cpu"]
    run_cli(
        ["hessian", "model.pt", "--top-k", "3", "--tol", "1e-8", *common, "--out", "h.nc"],
        tmp_path,
        subprocess_env,
    )
    distance = 0.3
    grid = ["--dims", "2", "--resolution", "5", "--distance", str(distance)]
    run_cli(
        ["landscape", "model.pt", "--directions", "h.nc", *grid, *common, "--out", "l.nc"],
        tmp_path,
        subprocess_env,
    )

    saved = torch.load(tmp_path / "model.pt", weights_only=True)
    theta = torch.cat([tensor.reshape(-1) for tensor in saved["state_dict"].values()])
    assert theta.numel() == 26
    dense = torch.autograd.functional.hessian(lambda flat: tiny_loss(flat, saved), theta)
    values, vectors = np.linalg.eigh(dense.numpy())
    top = np.argsort(-np.abs(values))[:3]
    assert abs(values[top[2]]) > 1.05 * abs(values[np.argsort(-np.abs(values))[3]])  # a gap

    with xr.open_dataset(tmp_path / "h.nc") as hessian:
        hessian = hessian.load()
    np.testing.assert_allclose(hessian.eigenvalues.values, values[top], rtol=1e-6)
    file_vectors = hessian.eigenvectors.values
    cosines = np.abs(np.sum(file_vectors * vectors[:, top].T, axis=1))
    np.testing.assert_allclose(cosines, 1.0, atol=1e-6)
    assert hessian.attrs["objective_factory"] == "factory.py:make"
    assert hessian.attrs["problem"] == "model"

    with xr.open_dataset(tmp_path / "l.nc") as landscape:
        landscape = landscape.load()
    # directions: the file's eigenvectors, each tensor scaled to the norm of θ's tensor
    bounds = np.cumsum([0] + [t.numel() for t in saved["state_dict"].values()])
    theta_np = theta.numpy()
    directions = []
    for vector in file_vectors[:2]:
        pieces = [
            vector[lo:hi] * np.linalg.norm(theta_np[lo:hi]) / np.linalg.norm(vector[lo:hi])
            for lo, hi in itertools.pairwise(bounds)
        ]
        directions.append(np.concatenate(pieces))
    axis = distance * np.arange(-2, 3) / 2
    np.testing.assert_array_equal(landscape.a0.values, axis)
    np.testing.assert_array_equal(landscape.a1.values, axis)

    def loss_at(a0: float, a1: float) -> float:
        point = theta_np + a0 * directions[0] + a1 * directions[1]
        return float(tiny_loss(torch.as_tensor(point), saved))

    expected = np.array([[loss_at(a0, a1) for a1 in axis] for a0 in axis])  # a0: first axis
    assert landscape.loss.dims == ("a0", "a1")
    np.testing.assert_allclose(landscape.loss.values, expected, rtol=1e-10)
    assert landscape.loss.values[2, 2] == pytest.approx(float(tiny_loss(theta, saved)), rel=1e-12)
    np.testing.assert_allclose(landscape.attrs["eigenvalues"], values[top[:2]], rtol=1e-6)

    assert landscape.attrs["objective_factory"] == "factory.py:make"
    metrics = json.loads(landscape.attrs["checkpoint_metrics"])
    assert metrics["accuracy"] == 0.75 and math.isnan(metrics["calibration"])


# --- the own-model example --------------------------------------------------------------


def load_example_module(name: str, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.syspath_prepend(str(OWN_MODEL))
    spec = importlib.util.spec_from_file_location(f"own_model_{name}", OWN_MODEL / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_own_model_example_trains_and_its_objective_is_the_training_loss(
    tmp_path, subprocess_env, monkeypatch
):
    out = tmp_path / "checkpoints"
    settings = ["--epochs", "2", "--iterations-per-epoch", "25", "--n-per-class", "60"]
    result = subprocess.run(
        [sys.executable, str(OWN_MODEL / "train.py"), "--out", str(out), *settings],
        env=subprocess_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["epoch_000.pt", "epoch_001.pt", "epoch_002.pt"]

    spirals = load_example_module("spirals", monkeypatch)
    saved = [torch.load(out / f"epoch_{e:03d}.pt", weights_only=True) for e in range(3)]
    assert [s["epoch"] for s in saved] == [0, 1, 2]
    torch.manual_seed(saved[0]["seed"])  # epoch 0 is the seeded initialisation
    for name, tensor in spirals.make_model().state_dict().items():
        torch.testing.assert_close(saved[0]["state_dict"][name], tensor, rtol=0, atol=0)

    last = out / "epoch_002.pt"
    spec = f"{OWN_MODEL / 'objective.py'}:make_objective"
    objective = objective_from_factory(spec, last, CPU, torch.float64)
    metrics = objective.metadata["metrics"]
    assert set(metrics) == {"train_accuracy", "test_accuracy"}
    assert all(0.0 <= value <= 1.0 for value in metrics.values())
    assert metrics["train_accuracy"] > 0.6 and metrics["test_accuracy"] > 0.5
    assert metrics["train_accuracy"] == pytest.approx(saved[2]["train_accuracy"], abs=1e-12)

    # the loss, computed directly from the checkpoint's tensors on the same training draw
    inputs, targets = spirals.spirals(60, saved[2]["data_seed"])
    state = saved[2]["state_dict"]
    hidden = torch.tanh(inputs @ state["0.weight"].T + state["0.bias"])
    hidden = torch.tanh(hidden @ state["2.weight"].T + state["2.bias"])
    logits = (hidden @ state["4.weight"].T + state["4.bias"]).numpy()
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    cross_entropy = -log_probs[np.arange(len(targets)), targets.numpy()].mean()
    with torch.no_grad():
        assert float(objective()) == pytest.approx(cross_entropy, rel=1e-12)
    assert float(objective()) < float(
        objective_from_factory(spec, out / "epoch_000.pt", CPU, torch.float64)()
    )

    # the analysis may ask for float32: the objective is then float32 throughout
    single = objective_from_factory(spec, last, CPU, torch.float32)
    assert single.theta().dtype == torch.float32
    with torch.no_grad():
        assert float(single()) == pytest.approx(cross_entropy, rel=1e-5)


def test_problem_modules_share_the_loader_and_register_once(tmp_path, monkeypatch):
    from losstopo import problems
    from losstopo.problems import get_problem, load_problem_modules

    monkeypatch.setattr(problems, "_REGISTRY", problems._REGISTRY.copy())  # no leftover problem

    with pytest.raises(LosstopoError) as excinfo:
        load_problem_modules(str(tmp_path / "missing_problem.py"))
    assert_one_line_error(excinfo, "missing_problem.py", "does not exist")
    module = tmp_path / "counted_problem.py"
    module.write_text(
        "from losstopo.problems import register\nclass P:\n    name = 'counted'\nregister(P())\n"
    )
    load_problem_modules(str(module))
    load_problem_modules(str(module))  # a second import would register it twice and fail
    assert get_problem("counted").name == "counted"
