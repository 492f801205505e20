"""Seconds of each planned job: its start-up plus its units of work at the probed rates.

One function per ``losstopo`` subcommand turns the call's arguments into units (iterations,
HVPs, points, vertices, images). A job whose command has no function here (a new stage, a
rule that runs another program) is costed as a start-up plus ``GENERIC_SECONDS`` and
reported as such; a job with no command (a target such as ``all``) costs nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from losstopo.estimate.commands import Invocation, arg
from losstopo.estimate.rates import Rate, UNetRate
from losstopo.estimate.study import ObjectiveRef, Study, StudyJob

# L-BFGS stops on its tolerances before its budget in converging runs and uses all of it in
# failing ones: the default study's runs used 41 % of their iterations, of about 2 loss
# evaluations each with their line searches, where the probe's first 40 iterations take about
# 1.25. At the probe's rate per iteration, half the budget is the central estimate of their
# time; the upper bound is all of it.
TYPICAL_BUDGET_FRACTION = 0.5
# Lanczos HVPs beyond one per eigenpair until the residuals reach the tolerance: 11-17 for
# k = 6 on the default study's PINNs (mean 13), 8-20 for k = 2 on its UNets (mean 13)
LANCZOS_EXTRA_HVPS = 9
POWER_ITERATIONS = 30  # power iterations per pair until the tolerance (at most --max-iter)
GENERIC_SECONDS = 2.0  # the work of a job whose command the estimate does not know
TABLE_SECONDS_PER_FILE = 0.01  # reading one small netCDF/JSON/CSV input of a table
# reading and drawing one more input of a figure (a merge-tree profile, a density): the
# default study's 45-panel profile grid took 16 s, its 15-panel figures 4-8 s
FIGURE_SECONDS_PER_PANEL = 0.25
# images of the real Oxford-IIIT Pet splits, when the data are not there to count
REAL_PETS = {"trainval": 3680, "test": 3669}

# the libraries a subcommand's process imports, which set its start-up
STARTUP_KIND = {
    "train-pinn": "torch",
    "train-unet": "torch",
    "make-pets": "torch",
    "hessian": "torch",
    "curvature": "torch",
    "landscape": "torch",
    "topology": "none",  # the merge-tree probe's fixed part is a whole job's
    "landscape-merge": "table",
    "topology-table": "table",
    "pinn-table": "table",
    "unet-table": "table",
    "claims": "table",
    "estimate": "torch",
}


class ProbeRates(Protocol):
    """The rates the costs need (measured by :class:`~losstopo.estimate.probes.
    MeasuredProbes`, or given by a test)."""

    def startup(self, kind: str) -> float: ...
    def pinn_iteration(self, call: Invocation) -> Rate: ...
    def pets_image(self, call: Invocation) -> Rate: ...
    def unet_training(self, call: Invocation) -> UNetRate: ...
    def hessian(self, objective: ObjectiveRef, call: Invocation) -> Rate: ...
    def curvature(self, objective: ObjectiveRef, call: Invocation) -> Rate: ...
    def landscape(self, objective: ObjectiveRef, call: Invocation) -> Rate: ...
    def merge_tree(self, landscape: Invocation, call: Invocation) -> Rate: ...


@dataclass
class Cost:
    """A job's predicted seconds (on one thread) and what it is, for the report."""

    seconds: float
    detail: str = ""
    generic: bool = False


@dataclass
class Context:
    study: Study
    rates: ProbeRates
    budget_fraction: float = TYPICAL_BUDGET_FRACTION


Coster = Callable[[Context, StudyJob, Invocation], Cost]


def startup_kind(command: str) -> str:
    """Which start-up a command's process pays (``none``: its probe includes it)."""
    if command.startswith("figure"):
        return "figure"
    return STARTUP_KIND.get(command, "torch")


def _train_pinn(ctx: Context, job: StudyJob, call: Invocation) -> Cost:
    rate = ctx.rates.pinn_iteration(call)
    fraction = ctx.budget_fraction if call.args.optimizer == "lbfgs" else 1.0
    iterations = fraction * int(call.args.iterations)
    return Cost(rate.fixed + iterations * rate.per_unit, f"{call.args.iterations} iterations")


def _make_pets(ctx: Context, job: StudyJob, call: Invocation) -> Cost:
    images = int(call.args.n_trainval) + int(call.args.n_test)
    rate = ctx.rates.pets_image(call)
    return Cost(rate.fixed + images * rate.per_unit, f"{images} images")


def _split_sizes(ctx: Context, call: Invocation) -> tuple[int, int]:
    """Training and test images of a UNet run: from the ``make-pets`` call that writes its
    data, else from the split files of the data on disk, else the real dataset's sizes."""
    args = call.args
    maker = ctx.study.writer_call(str(args.data), "make-pets")
    if maker is not None:
        train, test = int(maker.args.n_trainval), int(maker.args.n_test)
    else:
        train, test = REAL_PETS["trainval"], REAL_PETS["test"]
        for split in ("trainval", "test"):
            listing = ctx.study.directory / args.data / "annotations" / f"{split}.txt"
            if listing.is_file():
                lines = [ln for ln in listing.read_text().splitlines() if ln.strip()]
                if split == "trainval":
                    train = len(lines)
                else:
                    test = len(lines)
    if args.limit_trainval:
        train = min(train, int(args.limit_trainval))
    if args.limit_test:
        test = min(test, int(args.limit_test))
    return train, test


def _train_unet(ctx: Context, job: StudyJob, call: Invocation) -> Cost:
    rate = ctx.rates.unet_training(call)
    train, test = _split_sizes(ctx, call)
    epochs = int(call.args.epochs)
    # both splits are evaluated before training, the test split after every epoch
    evaluated = train + test + epochs * test
    seconds = epochs * train * rate.per_train_image + evaluated * rate.per_eval_image
    return Cost(seconds, f"{epochs} epochs of {train} images")


def _directions_rank(ctx: Context, call: Invocation) -> int:
    """Eigenpairs in the call's ``--directions`` (the top-k of the Hessian call writing it)."""
    directions = getattr(call.args, "directions", None)
    writer = ctx.study.writer_call(str(directions), "hessian") if directions else None
    return int(writer.args.top_k) if writer is not None else 0


def lanczos_hvps(args) -> int:
    """Hessian-vector products of one ``losstopo hessian`` call (typical, within its budget)."""
    k = int(args.top_k)
    if arg(args, "method", default="lanczos") == "power":
        return k * min(int(arg(args, "max_iter", default=100)), POWER_ITERATIONS)
    return min(int(arg(args, "max_hvp", default=1000)), k + LANCZOS_EXTRA_HVPS)


def curvature_hvps(args, rank: int) -> int:
    """HVPs of one ``losstopo curvature`` call: the trace's probes (its minimum: the
    default target is met there on the default study) plus one per deflated eigenvector, and
    every SLQ step."""
    deflate = arg(args, "deflate", default=not arg(args, "no_deflate", default=False))
    deflated = rank if deflate else 0
    budget = int(arg(args, "trace_max_hvps", "trace_max_hvp", default=200))
    trace = min(budget, int(arg(args, "trace_min_probes", default=20)) + deflated)
    return trace + int(arg(args, "slq_runs", default=3)) * int(arg(args, "slq_steps", default=40))


def _hvp_job(ctx: Context, job: StudyJob, call: Invocation, stage: str, hvps: int) -> Cost:
    """A job of ``stage`` (hessian or curvature) costed by its Hessian-vector products."""
    objective = ctx.study.objective_of(job, call)
    rate = getattr(ctx.rates, stage)(objective, call)
    return Cost(rate.fixed + hvps * rate.per_unit, f"{objective.kind}, {hvps} HVPs")


def _hessian(ctx: Context, job: StudyJob, call: Invocation) -> Cost:
    return _hvp_job(ctx, job, call, "hessian", lanczos_hvps(call.args))


def _curvature(ctx: Context, job: StudyJob, call: Invocation) -> Cost:
    hvps = curvature_hvps(call.args, _directions_rank(ctx, call))
    return _hvp_job(ctx, job, call, "curvature", hvps)


def landscape_points(args) -> int:
    """Points one landscape call evaluates (its tile's share of a tiled grid)."""
    sampling = getattr(args, "sampling", None) or "grid"
    if sampling == "grid":
        points = int(args.resolution) ** int(args.dims)
        tiles = int(getattr(args, "tiles", None) or 1)
        return -(-points // tiles) if tiles > 1 else points
    return int(args.n_points) + int(getattr(args, "center_points", 0) or 0)


def _shape(args) -> str:
    sampling = getattr(args, "sampling", None) or "grid"
    if sampling == "grid":
        return f"{args.resolution}^{args.dims}"
    return f"{args.dims}-D {sampling}"


def _landscape(ctx: Context, job: StudyJob, call: Invocation) -> Cost:
    objective = ctx.study.objective_of(job, call)
    rate = ctx.rates.landscape(objective, call)
    points = landscape_points(call.args)
    return Cost(rate.fixed + points * rate.per_unit, f"{objective.kind} {_shape(call.args)}")


def _topology(ctx: Context, job: StudyJob, call: Invocation) -> Cost:
    landscape = ctx.study.writer_call(str(call.args.landscape), "landscape")
    if landscape is None or landscape.args is None:
        return _generic(ctx, job, call, "its landscape is not written by a planned job")
    rate = ctx.rates.merge_tree(landscape, call)
    args = landscape.args
    points = landscape_points(args) * max(1, int(getattr(args, "tiles", None) or 1))
    detail = f"{_shape(args)} {call.args.connectivity}"
    return Cost(rate.fixed + points * rate.per_unit, detail)


def _files(call: Invocation) -> int:
    """Input files a table or figure call reads (its positional paths)."""
    paths = [
        v
        for name, v in vars(call.args).items()
        if name not in ("out", "markdown", "command", "figure", "func")
    ]
    count = 0
    for value in paths:
        values = value if isinstance(value, list) else [value]
        count += sum(
            isinstance(v, str) and Path(v).suffix in (".nc", ".csv", ".json") for v in values
        )
    return count


def _table(ctx: Context, job: StudyJob, call: Invocation) -> Cost:
    files = _files(call)
    return Cost(files * TABLE_SECONDS_PER_FILE, f"{files} inputs")


def _figure(ctx: Context, job: StudyJob, call: Invocation) -> Cost:
    files = _files(call)
    return Cost(max(0, files - 1) * FIGURE_SECONDS_PER_PANEL, f"{files} inputs")


def _generic(ctx: Context, job: StudyJob, call: Invocation | None, why: str) -> Cost:
    return Cost(GENERIC_SECONDS, why, generic=True)


COSTERS: dict[str, Coster] = {
    "train-pinn": _train_pinn,
    "make-pets": _make_pets,
    "train-unet": _train_unet,
    "hessian": _hessian,
    "curvature": _curvature,
    "landscape": _landscape,
    "topology": _topology,
    "landscape-merge": _table,
    "topology-table": _table,
    "pinn-table": _table,
    "unet-table": _table,
    "claims": _table,
}


@dataclass
class CostedJob:
    """A job with its predicted seconds on its threads (``startup`` of them starting its
    processes)."""

    job: StudyJob
    seconds: float
    detail: str
    generic: bool
    startup: float = 0.0


def cost_job(ctx: Context, job: StudyJob) -> CostedJob:
    """Predicted seconds of one job: the start-up and work of each of its calls."""
    if job.planned.shell is None:
        return CostedJob(job, 0.0, "no command", False)
    if not job.calls:
        cost = _generic(ctx, job, None, "runs no losstopo command")
        start = ctx.rates.startup("torch") * RUNNING_SLOWDOWN
        work = cost.seconds * RUNNING_SLOWDOWN
        return CostedJob(job, start + work, cost.detail, True, start)
    seconds, start, details, generic = 0.0, 0.0, [], False
    for call in job.calls:
        if call.args is None:
            cost = _generic(ctx, job, call, f"arguments of '{call.command}' not understood")
        elif call.command.startswith("figure"):
            cost = _figure(ctx, job, call)
        elif call.command in COSTERS:
            cost = COSTERS[call.command](ctx, job, call)
        else:
            cost = _generic(ctx, job, call, f"no cost model for '{call.command}'")
        work = cost.seconds / speedup(int(getattr(call.args, "threads", 1) or 1))
        start += ctx.rates.startup(startup_kind(call.command))
        seconds += work
        details.append(cost.detail)
        generic = generic or cost.generic
    detail = "; ".join(d for d in details if d)
    start, seconds = start * RUNNING_SLOWDOWN, seconds * RUNNING_SLOWDOWN
    return CostedJob(job, start + seconds, detail, generic, start)


# A job of a running study takes longer than its probes: the probes count CPU seconds, while a
# job's wall clock also holds its waits on files (its start-up reads thousands of them; it
# writes its outputs), the scheduler's process beside it and, with several jobs at once, the
# caches and memory bandwidth they share. The default study on 2 cores of the 2-core machine
# its probes ran on took 1.2-1.45 times (1.25 typical) the probed seconds of its jobs.
RUNNING_SLOWDOWN = 1.25

# Probes run on one thread; a job given more threads is assumed to run its work this much
# faster (torch's kernels on these small models scale far from linearly).
THREAD_EFFICIENCY = 0.5


def speedup(threads: int) -> float:
    return 1.0 + THREAD_EFFICIENCY * (max(threads, 1) - 1)
