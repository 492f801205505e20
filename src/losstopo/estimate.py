"""Predict the wall time of a configured study from small probes on this machine.

Each stage is timed on a small problem of the configured kind (L-BFGS iterations of the PINN,
Hessian-vector products, batched landscape points, merge-tree vertices, the start-up of one
job), then scaled to the configured sizes and divided among the cores, so a user knows before
launching whether a study fits a laptop. Training is costed at its full iteration budget
(L-BFGS often stops earlier), so the training part is an upper bound.
"""

from __future__ import annotations

import copy
import subprocess
import sys
import time
from dataclasses import dataclass
from itertools import product
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from losstopo.errors import LosstopoError

# L-BFGS stops on its tolerances before the budget in converging runs and uses all of it in
# failing ones; the default study's runs used 41 % of their budget on average. The central
# estimate assumes half, the upper bound all of it.
TYPICAL_BUDGET_FRACTION = 0.5
HVPS_PER_PAIR = 5  # Lanczos needs about 13-17 HVPs for k = 4 on the PINN (benchmarks/hessian.py)
UNET_HVPS = 15  # Lanczos HVPs for the top-2 pairs of a UNet-CRF checkpoint (10-22 measured)
REAL_PETS = {"trainval": 3680, "test": 3669}  # images in the Oxford-IIIT Pet splits
FIGURE_SECONDS = 4.0  # one figure or table job besides start-up


def load_config(paths: list[str | Path]) -> dict[str, Any]:
    """Merge YAML configs in order (later ones override, nested dicts merged, as Snakemake)."""
    merged: dict[str, Any] = {}
    for path in paths:
        path = Path(path)
        if not path.is_file():
            raise LosstopoError(f"config file {path} does not exist")
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise LosstopoError(f"config file {path} is not valid YAML: {reason}") from None
        if not isinstance(data, dict):
            raise LosstopoError(f"config file {path} is not a mapping")
        _deep_update(merged, data)
    for key in ("pinn", "hessian", "landscape"):
        if key not in merged:
            raise LosstopoError(f"config lacks section {key!r}")
    return merged


def _deep_update(base: dict, extra: dict) -> None:
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _deep_update(base[key], value)
        else:
            base[key] = copy.deepcopy(value)


@dataclass
class Probes:
    """Seconds per unit of work on this machine (one thread)."""

    startup: float
    per_iteration: float
    per_hvp: float
    per_point: dict[int, float]
    per_vertex: dict[int, float]
    unet: UNetProbes | None = None
    per_sample: dict[int, float] | None = None  # k-NN merge tree, per scattered sample


@dataclass
class UNetProbes:
    """Seconds per unit of segmentation work on this machine (one thread)."""

    per_train_image: float  # forward, backward and AdamW step, per image of a batch
    per_eval_image: float  # eval-mode forward per image
    per_hvp_image: float  # Hessian-vector product per image of the loss batch
    per_point_image: float  # landscape point per image of the loss batch
    per_generated_image: float  # make-pets, per image


def probe_unet(unet: dict[str, Any]) -> UNetProbes:
    """Time the configured UNet-CRF on a few random images (costs scale with the images)."""
    from torch.func import functional_call, grad, jvp

    from losstopo.problems.segmentation.synthetic_pets import render_pet
    from losstopo.problems.segmentation.unet import build_unet
    from losstopo.runtime import resolve_dtype

    torch.set_num_threads(1)
    torch.manual_seed(0)
    size, images = int(unet["image_size"]), 2
    model = build_unet(
        {
            "width": unet["width"],
            "depth": unet["depth"],
            "crf_iterations": unet["crf_iterations"],
            "crf_taps": unet["crf_taps"],
            "crf_bilateral": unet["crf_bilateral"],
        }
    )
    x = torch.randn(images, 3, size, size)
    y = torch.randint(0, 3, (images, size, size))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)

    def step() -> None:
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()

    def timed(fn, repeats: int = 2) -> float:
        fn()
        start = time.perf_counter()
        for _ in range(repeats):
            fn()
        return (time.perf_counter() - start) / repeats / images

    per_train = timed(step)
    model.eval()
    with torch.no_grad():
        per_eval = timed(lambda: model(x))
    landscape = unet.get("landscape", {})
    model64 = model.to(resolve_dtype(landscape.get("hessian_dtype", "float64")))
    x64 = x.to(next(model64.parameters()).dtype)
    params = {k: v.detach() for k, v in model64.named_parameters()}
    tangent = {k: torch.randn_like(v) for k, v in params.items()}

    def loss(p):
        return torch.nn.functional.cross_entropy(functional_call(model64, p, (x64,)), y)

    per_hvp = timed(lambda: jvp(grad(loss), (params,), (tangent,)))
    model = model.to(resolve_dtype(landscape.get("dtype", "float32")))
    with torch.no_grad():
        per_point = timed(lambda: model(x.to(next(model.parameters()).dtype)))
    rng = np.random.default_rng(0)
    side = int(unet.get("synthetic", {}).get("size", 64))
    start = time.perf_counter()
    for species in (1, 2):
        render_pet(rng, species, side)
    per_generated = (time.perf_counter() - start) / 2 * 1.5  # plus JPEG/PNG encoding
    return UNetProbes(per_train, per_eval, per_hvp, per_point, per_generated)


def probe(
    dims: list[int],
    dtype: str = "float32",
    unet: dict | None = None,
    scattered_dims: list[int] | None = None,
) -> Probes:
    """Time small instances of every stage (the UNet's too when ``unet`` is configured; the
    k-NN merge tree of scattered samples for each of ``scattered_dims``)."""
    from losstopo.hessian.operator import HVPOperator
    from losstopo.hessian.solvers import start_vector
    from losstopo.landscape.evaluation import LandscapeEvaluator
    from losstopo.landscape.grid import grid_alphas, grid_axes
    from losstopo.problems.convection.config import PINNConfig
    from losstopo.problems.convection.problem import ConvectionProblem
    from losstopo.problems.convection.training import train
    from losstopo.topology.mergetree import compiled_kernels, merge_tree, merge_tree_on_points

    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import losstopo.cli, torch, numba"], check=True)
    startup = time.perf_counter() - start

    torch.set_num_threads(1)
    config = PINNConfig(beta=30.0, lr=1.0, iterations=40)  # a run that uses its budget
    run = train(config, seed=0, device=torch.device("cpu"))
    per_iteration = run.outcome.seconds / max(run.outcome.iterations, 1)

    checkpoint = {"hparams": config.hparams(), "state_dict": run.model.state_dict()}
    problem = ConvectionProblem()
    objective64 = problem.objective(checkpoint, torch.device("cpu"), torch.float64)
    hvp = HVPOperator(objective64)
    v = start_vector(objective64.n_parameters, 0, torch.float64, torch.device("cpu"))
    hvp(v)
    start = time.perf_counter()
    for _ in range(5):
        hvp(v)
    per_hvp = (time.perf_counter() - start) / 5

    objective = problem.objective(checkpoint, torch.device("cpu"), getattr(torch, dtype))
    per_point, per_vertex = {}, {}
    # the start-up above includes numba's import, so time the compiled merge-tree kernel (a
    # small sweep runs interpreted only when that is cheaper: the estimate is an upper bound)
    compiled_kernels()
    rng = np.random.default_rng(0)
    scattered_dims = sorted(set(scattered_dims or []))
    for n in sorted(set(dims) | set(scattered_dims)):
        directions = torch.randn(n, objective.n_parameters, dtype=objective.theta().dtype) * 0.01
        evaluator = LandscapeEvaluator(objective, directions)
        alphas = grid_alphas(grid_axes(n, 5 if n <= 4 else 3, 0.1))[:400]
        evaluator.batched(alphas[:9])
        start = time.perf_counter()
        for begin in range(0, len(alphas), 9):
            evaluator.batched(alphas[begin : begin + 9])
        per_point[n] = (time.perf_counter() - start) / len(alphas)
        if n not in dims:  # scattered only: its merge tree is probed below
            continue
        side = max(3, round(40_000 ** (1 / n)))
        field = rng.random((side,) * n)
        merge_tree(field[(slice(0, 3),) * n])
        start = time.perf_counter()
        merge_tree(field)
        per_vertex[n] = (time.perf_counter() - start) / field.size
    if unet is not None and 2 not in per_vertex:
        field = rng.random((200, 200))
        merge_tree(field[:3, :3])
        start = time.perf_counter()
        merge_tree(field)
        per_vertex[2] = (time.perf_counter() - start) / field.size
    per_sample = {}
    for n in scattered_dims:
        samples = rng.random((8000, n))
        merge_tree_on_points(rng.random(200), samples[:200])
        start = time.perf_counter()
        merge_tree_on_points(rng.random(len(samples)), samples)
        per_sample[n] = (time.perf_counter() - start) / len(samples)
    unet_probes = probe_unet(unet) if unet is not None else None
    return Probes(startup, per_iteration, per_hvp, per_point, per_vertex, unet_probes, per_sample)


def unet_jobs(unet: dict[str, Any], probes: Probes) -> list[tuple[str, float]]:
    """(stage, seconds) of every job of the segmentation study."""
    u = probes.unet
    assert u is not None
    synthetic = unet.get("dataset", "synthetic") == "synthetic"
    sizes = unet.get("synthetic", {})
    n_train = int(sizes.get("n_trainval", 320)) if synthetic else REAL_PETS["trainval"]
    n_test = int(sizes.get("n_test", 160)) if synthetic else REAL_PETS["test"]
    n_train = min(n_train, unet.get("limit_trainval") or n_train)
    n_test = min(n_test, unet.get("limit_test") or n_test)
    epochs = int(unet["epochs"])
    runs = len(unet["learning_rates"]) * len(unet["seeds"])
    analysis = unet.get("analysis", {})
    epochs_analysed = analysis.get("epochs", [])
    checkpoints = (
        (epochs + 1 if epochs_analysed == "all" else len(epochs_analysed))
        * len(unet["learning_rates"])
        * len(analysis.get("seeds", []))
    )
    landscape = unet.get("landscape", {})
    batch = int(landscape.get("batch_size", 32))
    points = int(landscape.get("resolution", 15)) ** 2
    train = probes.startup + epochs * n_train * u.per_train_image
    # evaluation: both splits before training, the test split after every epoch
    train += (n_train + (epochs + 1) * n_test) * u.per_eval_image
    jobs = []
    if synthetic:
        jobs.append(("make_pets", probes.startup + (n_train + n_test) * u.per_generated_image))
    jobs += [("train_unet", train)] * runs
    jobs += [("unet_hessian", probes.startup + UNET_HVPS * batch * u.per_hvp_image)] * checkpoints
    jobs += [("unet_landscape", probes.startup + points * batch * u.per_point_image)] * checkpoints
    topology = probes.startup + points * probes.per_vertex[2]
    jobs += [("unet_topology", topology)] * checkpoints
    jobs += [("tables_and_figures", probes.startup + FIGURE_SECONDS)] * 4
    return jobs


def _fmt(value: float) -> str:
    return f"{float(value):g}"


def predict(
    config: dict[str, Any], probes: Probes, cores: int, budget_fraction: float = 1.0
) -> dict[str, Any]:
    """Job-by-job seconds for the configured study and the predicted wall time on ``cores``,
    with trainings costed at ``budget_fraction`` of their iteration budget."""
    pinn = config["pinn"]
    grid = {
        (_fmt(b), _fmt(lr), int(s))
        for b, lr, s in product(pinn["betas"], pinn["learning_rates"], pinn["seeds"])
    }
    analysis = pinn.get("analysis", {})
    analysed = {
        (_fmt(c["beta"]), _fmt(c["lr"]), int(s))
        for c in analysis.get("cells", [])
        for s in analysis.get("seeds", [])
    }
    trainings = len(grid | analysed)
    grids = config["landscape"]["grids"]
    scattered = config["landscape"].get("scattered", [])
    k = max(g["dims"] for g in [*grids, *scattered])
    topology_config = config.get("topology", {})
    n_connectivities = len(
        {
            topology_config.get("connectivity", "full"),
            *topology_config.get("compare_connectivities", []),
        }
    )
    jobs: list[tuple[str, float]] = []
    iterations = budget_fraction * pinn["iterations"]
    jobs += [("train_pinn", probes.startup + iterations * probes.per_iteration)] * trainings
    jobs += [("hessian", probes.startup + HVPS_PER_PAIR * k * probes.per_hvp)] * len(analysed)
    landscapes = []
    for g in grids:
        points = g["resolution"] ** g["dims"]
        seconds = probes.startup + points * probes.per_point[g["dims"]]
        topology = probes.startup + points * probes.per_vertex[g["dims"]]
        landscapes.append(
            {
                "dims": g["dims"],
                "resolution": g["resolution"],
                "points": points,
                "landscape_seconds": seconds,
                "topology_seconds": topology,
            }
        )
        jobs += [("landscape", seconds)] * len(analysed)
        jobs += [("topology", topology)] * len(analysed) * n_connectivities
    for entry in scattered:  # one k-NN merge tree each
        points = int(entry["n_points"]) + int(entry.get("center_points", 0))
        n = int(entry["dims"])
        seconds = probes.startup + points * probes.per_point[n]
        topology = probes.startup + points * (probes.per_sample or {})[n]
        landscapes.append(
            {
                "dims": n,
                "sampling": entry.get("sampling", "sobol"),
                "points": points,
                "landscape_seconds": seconds,
                "topology_seconds": topology,
            }
        )
        jobs += [("landscape", seconds), ("topology", topology)] * len(analysed)
    # the extent study: one more landscape per distance (the configured one is shared)
    landscape = config["landscape"]
    extent_dims = int(landscape.get("extent_dims", 3))
    extent = [d for d in landscape.get("extent_distances", []) if d != landscape.get("distance")]
    for g in grids:
        if g["dims"] == extent_dims:
            points = g["resolution"] ** g["dims"]
            seconds = probes.startup + points * probes.per_point[g["dims"]]
            topology = probes.startup + points * probes.per_vertex[g["dims"]]
            jobs += [("landscape", seconds)] * len(analysed) * len(extent)
            jobs += [("topology", topology)] * len(analysed) * len(extent) * n_connectivities
    jobs += [("tables_and_figures", probes.startup + FIGURE_SECONDS)] * 9
    unet = config.get("unet", {})
    if probes.unet is not None and unet.get("enabled", True):
        jobs += unet_jobs(unet, probes)
    by_stage: dict[str, float] = {}
    for stage, seconds in jobs:
        by_stage[stage] = by_stage.get(stage, 0.0) + seconds
    # greedy longest-first scheduling on the cores gives the wall time
    loads = [0.0] * max(1, cores)
    for _, seconds in sorted(jobs, key=lambda job: -job[1]):
        loads[loads.index(min(loads))] += seconds
    return {
        "jobs": len(jobs),
        "trainings": trainings,
        "analysed_runs": len(analysed),
        "by_stage_cpu_seconds": by_stage,
        "landscapes": landscapes,
        "wall_seconds": max(loads),
        "cores": cores,
    }


def report(prediction: dict[str, Any], upper: dict[str, Any], probes: Probes) -> str:
    """The estimate (central, and the full-budget upper bound) as text."""
    lines = [
        f"probes (1 thread): job start-up {probes.startup:.2f} s, L-BFGS iteration "
        f"{probes.per_iteration * 1e3:.2f} ms, Hessian-vector product "
        f"{probes.per_hvp * 1e3:.2f} ms",
    ]
    for n in sorted(probes.per_point):
        tree = (
            f"merge-tree vertex {probes.per_vertex[n] * 1e6:.2f} us"
            if n in probes.per_vertex
            else f"k-NN merge-tree sample {(probes.per_sample or {})[n] * 1e6:.2f} us"
        )
        lines.append(f"  {n}-D: landscape point {probes.per_point[n] * 1e6:.0f} us, {tree}")
    if probes.unet is not None:
        u = probes.unet
        lines.append(
            f"  UNet-CRF per image: training step {u.per_train_image * 1e3:.1f} ms, forward "
            f"{u.per_eval_image * 1e3:.1f} ms, HVP {u.per_hvp_image * 1e3:.1f} ms, landscape "
            f"point {u.per_point_image * 1e3:.1f} ms, "
            f"generation {u.per_generated_image * 1e3:.1f} ms"
        )
    lines.append(
        f"study: {prediction['jobs']} jobs, {prediction['trainings']} trainings, "
        f"{prediction['analysed_runs']} analysed runs"
    )
    for stage, seconds in prediction["by_stage_cpu_seconds"].items():
        lines.append(f"  {stage:<20} {seconds / 60:8.1f} CPU min")
    for item in prediction["landscapes"]:
        shape = (
            f"{item['resolution']}^{item['dims']}"
            if "resolution" in item
            else f"{item['dims']}-D {item['sampling']}"
        )
        lines.append(
            f"  each {shape} landscape: "
            f"{item['landscape_seconds']:.0f} s, its merge tree "
            f"{item['topology_seconds']:.0f} s ({item['points']} points)"
        )
    lines.append(
        f"predicted wall time on {prediction['cores']} cores: "
        f"{prediction['wall_seconds'] / 60:.1f} min (trainings at half their iteration budget; "
        f"at most {upper['wall_seconds'] / 60:.1f} min if every run uses its whole budget)"
    )
    return "\n".join(lines)
