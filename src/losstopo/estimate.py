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
FIGURE_SECONDS = 4.0  # one figure or table job besides start-up


def load_config(paths: list[str | Path]) -> dict[str, Any]:
    """Merge YAML configs in order (later ones override, nested dicts merged, as Snakemake)."""
    merged: dict[str, Any] = {}
    for path in paths:
        path = Path(path)
        if not path.is_file():
            raise LosstopoError(f"config file {path} does not exist")
        data = yaml.safe_load(path.read_text()) or {}
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


def probe(dims: list[int], dtype: str = "float32") -> Probes:
    """Time small instances of every stage."""
    from losstopo.hessian import HVPOperator, start_vector
    from losstopo.landscape import LandscapeEvaluator, grid_alphas, grid_axes
    from losstopo.problems.convection import ConvectionProblem, PINNConfig, train
    from losstopo.topology.mergetree import merge_tree

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
    rng = np.random.default_rng(0)
    for n in sorted(set(dims)):
        directions = torch.randn(n, objective.n_parameters, dtype=objective.theta().dtype) * 0.01
        evaluator = LandscapeEvaluator(objective, directions)
        alphas = grid_alphas(grid_axes(n, 5 if n <= 4 else 3, 0.1))[:400]
        evaluator.batched(alphas[:9])
        start = time.perf_counter()
        for begin in range(0, len(alphas), 9):
            evaluator.batched(alphas[begin : begin + 9])
        per_point[n] = (time.perf_counter() - start) / len(alphas)
        side = max(3, round(40_000 ** (1 / n)))
        field = rng.random((side,) * n)
        merge_tree(field[(slice(0, 3),) * n])
        start = time.perf_counter()
        merge_tree(field)
        per_vertex[n] = (time.perf_counter() - start) / field.size
    return Probes(startup, per_iteration, per_hvp, per_point, per_vertex)


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
    k = max(g["dims"] for g in grids)
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
        jobs += [("topology", topology)] * len(analysed)
    jobs += [("tables_and_figures", probes.startup + FIGURE_SECONDS)] * 6
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
        lines.append(
            f"  {n}-D: landscape point {probes.per_point[n] * 1e6:.0f} us, merge-tree "
            f"vertex {probes.per_vertex[n] * 1e6:.2f} us"
        )
    lines.append(
        f"study: {prediction['jobs']} jobs, {prediction['trainings']} trainings, "
        f"{prediction['analysed_runs']} analysed runs"
    )
    for stage, seconds in prediction["by_stage_cpu_seconds"].items():
        lines.append(f"  {stage:<20} {seconds / 60:8.1f} CPU min")
    for item in prediction["landscapes"]:
        lines.append(
            f"  each {item['resolution']}^{item['dims']} landscape: "
            f"{item['landscape_seconds']:.0f} s, its merge tree "
            f"{item['topology_seconds']:.0f} s ({item['points']} points)"
        )
    lines.append(
        f"predicted wall time on {prediction['cores']} cores: "
        f"{prediction['wall_seconds'] / 60:.1f} min (trainings at half their iteration budget; "
        f"at most {upper['wall_seconds'] / 60:.1f} min if every run uses its whole budget)"
    )
    return "\n".join(lines)
