"""What each cluster job of the workflow asks the scheduler for, from the config.

The memory of the analysis and training rules (their ``mem_mb`` resource) comes from here,
and so does the cluster plan (``scripts/slurm-plan``), so the plan printed before a run is
what the run submits. CPUs are the rules' threads (config ``threads``), GPUs their ``gpu``
resource (config ``gpu_stages``, the SLURM profile's ``train_unet``).

Memory is an allowance for the Python process and the job's own Snakemake plus what grows
with the configured scale. The coefficients are peak resident sizes measured on CPU (with
``/usr/bin/time``) and rounded up by about half: merge trees of 69k to 194k-point grids and
65k scattered points, and the UNet-CRF at the paper's size (width 16, depth 5, 224² images,
batches of 32: 3.9 GB training, 9.6 GB for a Hessian, 9.3 GB for a landscape in batch-norm
batch mode). Each retry asks for more (× attempt).
A job that asks for more memory or GPUs than the node given to Snakemake (``--resources
mem_mb=N gpu=N``) stops the workflow before anything runs; threads above the node's CPUs
(``--cores``) are capped to them by Snakemake.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from losstopo.workflow.paths import TOPOLOGY_FILE

BASE_MB = 1000  # Python, torch and the job's Snakemake: 0.25-0.45 GB peak at every scale
GRID_POINT_BYTES = 512  # a merge tree on a grid: 0.19 KB per point measured (3-D, 4-D)
KNN_POINT_BYTES_PER_DIM = 512  # on a k-NN graph: 0.64, 1.0, 1.4 KB per point in 3, 5, 4-D
# UNet-CRF, per image pixel and channel of the first level (batch × size² × width)
UNET_TRAINING_BYTES = 200  # 136 measured (forward and backward of a training batch)
UNET_ANALYSIS_BYTES = 540  # 358 for Hessian-vector products, 345 for a landscape, measured
OTHER_MODEL_MB = 4000  # your models and problems: their size is not in the config
OXFORD_PET_IMAGES = 3680 + 3669  # trainval + test
CLUSTER_RULES = (
    "make_pets",
    "train_pinn",
    "train_unet",
    "hessian",
    "curvature",
    "landscape",
    "landscape_tile",
    "landscape_merge",
    "topology",
)
_TREE = re.compile(
    r"^results/(?P<problem>[^/]+)/(?P<run>[^/]+)/(?P<ckpt>[^/]+)/"
    + re.escape(TOPOLOGY_FILE)
    .replace(r"\{dims\}", r"(?P<dims>\d+)")
    .replace(r"\{distance\}", r"(?P<distance>[^_]+)")
    .replace(r"\{connectivity\}", r"(?P<connectivity>\w+)")
    + "$"
)


@dataclass(frozen=True)
class Request:
    """What one job asks for."""

    cpus: int
    mem_mb: int
    gpus: int = 0


@dataclass(frozen=True)
class PlannedJobs:
    """Jobs of one rule that ask for the same: a row of the cluster plan."""

    rule: str
    label: str  # problem, dimension, connectivity: what sets the request
    count: int
    request: Request


@dataclass(frozen=True)
class Node:
    """A compute node (None: not limited)."""

    cpus: int | None = None
    mem_mb: int | None = None
    gpus: int | None = None

    def describe(self) -> str:
        parts = [
            f"{self.cpus} CPUs" if self.cpus is not None else "any CPUs",
            f"{self.mem_mb} MB" if self.mem_mb is not None else "any memory",
            f"{self.gpus} GPUs" if self.gpus is not None else "any GPUs",
        ]
        return ", ".join(parts)


def describe(request: Request) -> str:
    return f"{request.cpus} CPUs, {request.mem_mb} MB, {request.gpus} GPUs"


# ---- memory of one job ----------------------------------------------------------------


def points(sampling: list[str], dims: int) -> int:
    """Points of a landscape from its ``losstopo landscape`` sampling options (a grid's
    ``--resolution`` per axis, or scattered ``--n-points``)."""
    options = dict(zip(sampling[::2], sampling[1::2], strict=False))
    if "--n-points" in options:
        return int(options["--n-points"])
    return int(options["--resolution"]) ** dims


def _mb(n_bytes: float) -> int:
    return int(-(-n_bytes // 2**20))


def _unet_units(unet: Mapping[str, Any], batch: int) -> int:
    return batch * unet["image_size"] ** 2 * unet["width"]


def _unet_data_mb(config: Mapping[str, Any]) -> int:
    """The dataset in memory: uint8 images and masks (4 bytes per pixel), both splits."""
    unet = config["unet"]
    if unet["dataset"] == "synthetic":
        sizes = [unet["synthetic"]["n_trainval"], unet["synthetic"]["n_test"]]
    else:
        sizes = [3680, 3669]
    limits = [unet["limit_trainval"], unet["limit_test"]]
    images = sum(min(n, limit) if limit > 0 else n for n, limit in zip(sizes, limits, strict=True))
    return _mb(images * 4 * unet["image_size"] ** 2)


def training_memory_mb(config: Mapping[str, Any], rule: str) -> int:
    """A training or data job (``train_pinn``, ``train_unet``, ``make_pets``)."""
    if rule == "train_unet":
        unet = config["unet"]
        activations = UNET_TRAINING_BYTES * _unet_units(unet, unet["batch_size"])
        return BASE_MB + _mb(activations) + _unet_data_mb(config)
    if rule == "make_pets":
        synthetic = config["unet"]["synthetic"]
        images = synthetic["n_trainval"] + synthetic["n_test"]
        return BASE_MB + _mb(images * 4 * synthetic["size"] ** 2)
    return BASE_MB  # the PINN and merging tiles: small at every configured scale


def analysis_memory_mb(
    config: Mapping[str, Any],
    rule: str,
    problem: str,
    sampling: Mapping[int, list[str]],
    dims: int | None = None,
    connectivity: str | None = None,
) -> int:
    """An analysis job of one checkpoint of ``problem`` (``sampling``: its landscapes'
    options by dimension, from its analysis settings)."""
    if rule == "topology":
        assert dims is not None and connectivity is not None
        n = points(sampling[dims], dims)
        per_point = KNN_POINT_BYTES_PER_DIM * dims if connectivity == "knn" else GRID_POINT_BYTES
        return BASE_MB + _mb(n * per_point)
    if rule == "landscape_merge":
        return BASE_MB
    if problem == "pinn":
        return BASE_MB  # 7,851 parameters; a chunk of landscape points is ~16 MiB on CPU
    if problem == "unet":
        batch = config["unet"]["landscape"]["batch_size"]
        activations = UNET_ANALYSIS_BYTES * _unet_units(config["unet"], batch)
        return BASE_MB + _mb(activations) + _unet_data_mb(config)
    return OTHER_MODEL_MB


# ---- the rules' resources -------------------------------------------------------------


def configured_limit(global_resources: Mapping[str, Any], name: str) -> int | None:
    """``N`` of Snakemake's ``--resources name=N`` (``--cores`` is ``_cores``); None when not
    given. Values are numbers or objects holding one in ``value``."""
    value = global_resources.get(name)
    value = getattr(value, "value", value)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def rule_memory(rule: str, study: Any, global_resources: Mapping[str, Any]) -> Callable:
    """The ``mem_mb`` resource of ``rule`` (a function of a job's wildcards and attempt).

    When the node is given (``--resources mem_mb=N gpu=N`` of a site profile), every
    configured job of the rule is checked against it here, as the workflow is read: one that
    needs more memory or GPUs stops the run with a message naming the rule, its request and
    the node, instead of waiting for a node that no cluster has. Inside a cluster job
    (``SLURM_JOB_ID`` set) the submitting run has checked it already.
    """
    node = Node(
        cpus=configured_limit(global_resources, "_cores"),
        mem_mb=configured_limit(global_resources, "mem_mb"),
        gpus=configured_limit(global_resources, "gpu"),
    )
    if (node.mem_mb, node.gpus) != (None, None) and "SLURM_JOB_ID" not in os.environ:
        rows = [row for row in planned_jobs(study) if row.rule == rule]
        errors = oversized(rows, node)
        if errors:
            raise ValueError(errors[0])

    def mem_mb(wildcards: Any, attempt: int) -> int:
        return attempt * job_memory_mb(rule, study, dict(wildcards.items()))

    return mem_mb


def job_memory_mb(rule: str, study: Any, wildcards: Mapping[str, str]) -> int:
    """Memory of one job of ``rule`` at its first attempt."""
    if "problem" not in wildcards:
        return training_memory_mb(study.config, rule)
    settings = study.settings(wildcards["problem"], wildcards["run"])
    dims = int(wildcards["dims"]) if "dims" in wildcards else None
    return analysis_memory_mb(
        study.config,
        rule,
        wildcards["problem"],
        settings.sampling,
        dims,
        wildcards.get("connectivity"),
    )


# ---- the plan -------------------------------------------------------------------------


def _trees(study: Any) -> list[dict[str, str]]:
    """Wildcards of every merge tree of the study's tables (each a topology job)."""
    files = {f for table in study.tables().values() for f in table.files}
    matches = (_TREE.match(f) for f in sorted(files))
    return [m.groupdict() for m in matches if m]


def planned_jobs(study: Any) -> list[PlannedJobs]:
    """Every kind of cluster job of the study with its request and how many there are."""
    config = study.config
    rows: list[PlannedJobs] = []
    gpu_stages = set(config.get("gpu_stages") or [])

    def add(rule: str, label: str, count: int, cpus: int, mem_mb: int, gpus: int = 0) -> None:
        rows.append(PlannedJobs(rule, label, count, Request(max(1, cpus), mem_mb, gpus)))

    names = {problem.name for problem in study.enabled()}
    if "pinn" in names:
        pinn = config["pinn"]
        runs = len(pinn["betas"]) * len(pinn["learning_rates"]) * len(pinn["seeds"])
        add("train_pinn", "", runs, pinn["threads"], training_memory_mb(config, "train_pinn"))
    if "unet" in names:
        unet = config["unet"]
        if unet["dataset"] == "synthetic":
            add("make_pets", "", 1, 1, training_memory_mb(config, "make_pets"))
        runs = len(unet["learning_rates"]) * len(unet["seeds"])
        gpus = int(any(stage.startswith("unet:") for stage in gpu_stages))
        add("train_unet", "", runs, unet["threads"], training_memory_mb(config, "train_unet"), gpus)

    trees = _trees(study)
    checkpoints: dict[tuple[str, str, str], None] = {}
    landscapes: dict[tuple[str, str, str, str, str], None] = {}
    for tree in trees:
        checkpoints[tree["problem"], tree["run"], tree["ckpt"]] = None
        landscapes[tree["problem"], tree["run"], tree["ckpt"], tree["dims"], tree["distance"]] = (
            None
        )
    tiles = config["landscape"]["tiles"]
    scattered = {entry["dims"] for entry in config["landscape"]["scattered"]}

    def kinds(keys: Iterable[tuple[str, ...]], width: int) -> dict[tuple[str, ...], int]:
        counted: dict[tuple[str, ...], int] = {}
        for key in keys:
            kind = (key[0], key[1], *key[3:width])
            counted[kind] = counted.get(kind, 0) + 1
        return counted

    curvature = [
        key
        for key in checkpoints
        if config["curvature"]["enabled"] and study.with_curvature("/".join(("results", *key)))
    ]
    for rule, keys in (("hessian", list(checkpoints)), ("curvature", curvature)):
        for (problem, run), count in kinds(keys, 3).items():
            settings = study.settings(problem, run)
            mem = analysis_memory_mb(config, rule, problem, settings.sampling)
            gpus = int(f"{problem}:{rule}" in gpu_stages)
            add(rule, problem, count, settings.hessian_threads, mem, gpus)
    for (problem, run, dims), count in kinds(
        ((p, r, c, d) for p, r, c, d, _ in landscapes), 4
    ).items():
        settings = study.settings(problem, run)
        gpus = int(f"{problem}:landscape" in gpu_stages)
        mem = analysis_memory_mb(config, "landscape", problem, settings.sampling, int(dims))
        label = f"{problem} {dims}-D"
        if tiles > 1 and int(dims) not in scattered:
            add("landscape_tile", label, count * tiles, settings.landscape_threads, mem, gpus)
            add("landscape_merge", label, count, 1, BASE_MB)
        else:
            add("landscape", label, count, settings.landscape_threads, mem, gpus)
    for (problem, run, dims, connectivity), count in kinds(
        ((t["problem"], t["run"], t["ckpt"], t["dims"], t["connectivity"]) for t in trees), 5
    ).items():
        settings = study.settings(problem, run)
        mem = analysis_memory_mb(
            config, "topology", problem, settings.sampling, int(dims), connectivity
        )
        add("topology", f"{problem} {dims}-D {connectivity}", count, 1, mem)
    return _merged(rows)


def _merged(rows: list[PlannedJobs]) -> list[PlannedJobs]:
    """Rows of the same rule, label and request as one (runs of a problem differ by run)."""
    merged: dict[tuple[str, str, Request], int] = {}
    for row in rows:
        key = (row.rule, row.label, row.request)
        merged[key] = merged.get(key, 0) + row.count
    return [PlannedJobs(rule, label, n, request) for (rule, label, request), n in merged.items()]


def group_request(members: list[Request], node: Node) -> Request:
    """What Snakemake asks for a group job of ``members``: jobs that run side by side are
    put in layers that fit the node (``--cores``, ``--resources mem_mb``); the group takes
    its widest layer (largest jobs first, as Snakemake sorts them)."""
    layers: list[list[Request]] = []
    for job in sorted(members, key=lambda r: (r.mem_mb, r.cpus), reverse=True):
        for layer in layers:
            cpus = sum(r.cpus for r in layer) + job.cpus
            mem = sum(r.mem_mb for r in layer) + job.mem_mb
            if (node.cpus is None or cpus <= node.cpus) and (
                node.mem_mb is None or mem <= node.mem_mb
            ):
                layer.append(job)
                break
        else:
            layers.append([job])
    return Request(
        cpus=max(sum(r.cpus for r in layer) for layer in layers),
        mem_mb=max(sum(r.mem_mb for r in layer) for layer in layers),
        gpus=max(sum(r.gpus for r in layer) for layer in layers),
    )


def largest_group(rows: list[PlannedJobs], rule: str, components: int, node: Node) -> Request:
    """The largest group job of ``components`` jobs of ``rule`` (its largest jobs)."""
    jobs = [row.request for row in rows if row.rule == rule for _ in range(row.count)]
    jobs.sort(key=lambda r: (r.mem_mb, r.cpus), reverse=True)
    return group_request(jobs[:components], node)


def oversized(rows: Iterable[PlannedJobs], node: Node) -> list[str]:
    """One line for each kind of job that asks for more memory or GPUs than ``node`` has,
    naming the rule, its jobs, the request and the node (CPUs above the node's are capped
    to them: the job runs with fewer threads)."""
    lines = []
    for row in rows:
        request = row.request
        mem = node.mem_mb is not None and request.mem_mb > node.mem_mb
        gpus = node.gpus is not None and request.gpus > node.gpus
        if mem or gpus:
            what = f"rule {row.rule}" + (f" ({row.label})" if row.label else "")
            hint = " (on a cluster without GPUs: --config gpu_stages=[])" if gpus else ""
            lines.append(
                f"{what}: {row.count} job(s) ask for {describe(request)}; the largest node "
                f"has {node.describe()}{hint}"
            )
    return lines


def capped(request: Request, node: Node) -> list[str]:
    """A note when Snakemake caps a job's threads to the node's CPUs (``--cores``)."""
    if node.cpus is not None and request.cpus > node.cpus:
        return [f"runs with {node.cpus} threads"]
    return []


# ---- nodes ----------------------------------------------------------------------------

_SIZE = re.compile(r"^(\d+(?:\.\d+)?)\s*([KMGT]?)B?$", re.IGNORECASE)
_UNIT_MB = {"": 1, "K": 1 / 1024, "M": 1, "G": 1024, "T": 1024**2}


def parse_memory_mb(text: str) -> int:
    """``256G``, ``256GB``, ``21694`` (MB), ``1.5T`` as MB."""
    match = _SIZE.match(text.strip())
    if not match:
        raise ValueError(f"not a memory size: {text!r} (e.g. 256G or 21694 for MB)")
    return int(float(match.group(1)) * _UNIT_MB[match.group(2).upper()])


def parse_node(text: str) -> Node:
    """``cpus=64,mem=256G,gpus=4`` (any of the three)."""
    values: dict[str, int] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, sep, value = item.partition("=")
        key = key.strip().lower()
        if not sep or key not in ("cpus", "mem", "gpus"):
            raise ValueError(f"node: {item!r} is not cpus=N, mem=SIZE or gpus=N")
        if key == "mem":
            values["mem_mb"] = parse_memory_mb(value)
        elif value.strip().isdigit():
            values[key] = int(value)
        else:
            raise ValueError(f"node: {key}={value!r} is not a whole number")
    if not values:
        raise ValueError("node: give cpus=N, mem=SIZE and/or gpus=N")
    return Node(**values)


def gres_gpus(gres: str) -> int:
    """GPUs of a node from sinfo's GRES column (``gpu:a100:4(S:0-1)``, ``gpu:2``)."""
    total = 0
    for entry in gres.split(","):
        fields = re.sub(r"\(.*\)", "", entry).split(":")
        if fields[0] == "gpu" and len(fields) > 1 and fields[-1].isdigit():
            total += int(fields[-1])
    return total


def nodes_from_sinfo(text: str) -> list[Node]:
    """Nodes from ``sinfo -h -N -o '%N %c %m %G'`` (name, CPUs, memory in MB, GRES)."""
    nodes = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 3:
            continue
        name, cpus, mem = fields[:3]
        gres = fields[3] if len(fields) > 3 else ""
        if cpus.isdigit() and mem.rstrip("+").isdigit():
            nodes[name] = Node(int(cpus), int(mem.rstrip("+")), gres_gpus(gres))
    return list(nodes.values())


def largest(nodes: list[Node]) -> Node:
    """The node with the most memory (then CPUs, then GPUs)."""
    if not nodes:
        raise ValueError("sinfo lists no nodes")
    return max(nodes, key=lambda n: (n.mem_mb or 0, n.cpus or 0, n.gpus or 0))
