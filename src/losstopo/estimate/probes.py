"""Probes: the study's own commands, run small on this machine and timed.

A probe runs a job's ``losstopo`` call with its sizes cut down (40 L-BFGS iterations, a
grid of 3 points per axis, a one-epoch UNet on a few images, ...) in this process, on probe
inputs made the same way, and reads the rate of its unit of work (an iteration, an HVP, a
landscape point, a merge-tree vertex) from the output's own timing records or from the
clock. The start-up of a job (a fresh Python importing torch, numba, pandas or matplotlib)
is the time of a tiny job run as its own process less the same job run here. Every probe
runs on one thread, and each distinct setting is probed once.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

from losstopo.estimate.commands import Invocation, arg, parse_invocation
from losstopo.estimate.rates import Rate, UNetRate
from losstopo.estimate.study import TRAINING_IDENTITY_DROP, ObjectiveRef, Study, identity
from losstopo.estimate.workspace import Workspace, read_attrs, replace_value, with_options

# largest number of pixels (images x height x width) in a probe's segmentation batch: 32
# images of 64^2 px, so that a paper-size (224^2) probe stays a few seconds
PROBE_PIXELS = 32 * 64 * 64
PROBE_LANDSCAPE_POINTS = 3000  # points of a probe landscape when a point is cheap
PROBE_LANDSCAPE_SECONDS = 1.0  # ... and at most about this much evaluation
PROBE_ITERATIONS = 40
PROBE_REPEATS = 3  # short probes are timed this often, and the fastest run counts
# PINN training probe: a cell whose L-BFGS run uses its whole budget, so the iterations
# timed are full iterations (converging runs stop with their tolerances)
PROBE_PINN_CELL = ("--beta", "30", "--lr", "1")
# a curvature call of few HVPs: 2 trace probes (plus the deflated span) and 4 SLQ steps
_CURVATURE_PROBE = ("--trace-min-probes", "2", "--slq-runs", "1", "--slq-steps", "4")
_RUNTIME_PAIRS = (("--threads", "1"), ("--device", "cpu"))
_SIZE_OPTIONS = ("--resolution", "--n-points", "--center-points", "--tiles", "--tile")
_RUNTIME = ("--threads", "1", "--device", "cpu")


def _masked(call: Invocation, paths: list[str], drop: tuple[str, ...]) -> tuple[str, ...]:
    kept = identity(call, drop)
    return tuple("PATH" if token in paths else token for token in kept)


def _odd_side(points: float, dims: int) -> int:
    """The largest odd grid side whose ``dims``-cube has at most ``points`` points (>= 3)."""
    side = math.floor(max(points, 1) ** (1 / dims))
    side -= 1 - side % 2
    return max(3, side)


class MeasuredProbes:
    """Rates measured on this machine, each on first use (then remembered)."""

    def __init__(self, study: Study) -> None:
        self.study = study
        self.work = Workspace(study.directory)
        self._memo: dict[Any, Any] = {}
        self._pinn_checkpoints: dict[tuple[str, ...], str] = {}
        self._unet: dict[tuple[str, ...], tuple[str, int]] = {}

    def close(self) -> None:
        self.work.close()

    def summary(self) -> str:
        """The measured rates, one line each (1 thread)."""
        lines = ["probes (1 thread, this machine):"]
        for key, value in self._memo.items():
            if not isinstance(key, tuple) or key[0] not in _SUMMARISED:
                continue
            if key == ("startup", "none"):
                continue
            name = _describe(key)
            if isinstance(value, float):
                lines.append(f"  {name}: {value:.2f} s")
            elif isinstance(value, Rate):
                lines.append(f"  {name}: {value.per_unit * 1e3:.3g} ms each, +{value.fixed:.2f} s")
            elif isinstance(value, dict):  # the Hessian-vector product's probes
                rate = value["hessian"]
                lines.append(f"  {name}: {rate.per_unit * 1e3:.3g} ms each (at the job's batch)")
            elif isinstance(value, UNetRate):
                lines.append(
                    f"  {name}: {value.per_train_image * 1e3:.3g} ms per training image, "
                    f"{value.per_eval_image * 1e3:.3g} ms per evaluated image"
                )
        return "\n".join(lines)

    def _once(self, key: Any, measure) -> Any:
        if key not in self._memo:
            self._memo[key] = measure()
        return self._memo[key]

    # ---- start-up of a job's process -------------------------------------------------

    def startup(self, kind: str) -> float:
        """Seconds a fresh ``python -m losstopo`` process of this kind spends besides the
        call's own work (importing torch, numba, pandas or matplotlib)."""
        return self._once(("startup", kind), lambda: self._startup(kind))

    def _startup(self, kind: str) -> float:
        """A tiny job of the kind as its own process. A torch job's own work (loading, a
        3^2 landscape, writing) is timed here and taken off; it is costed by its probes.
        Torch jobs are most of a study's jobs, so theirs is the faster of two runs."""
        if kind == "none":
            return 0.0
        if kind == "table":
            tree = self._base_topology()
            argv = ["topology-table", tree, "--out", self.work.path("start_table.csv")]
            return self.work.run_process(argv).cpu
        if kind == "figure":
            tree = self._base_topology()
            out = [self.work.path("start.png"), self.work.path("start.pdf")]
            argv = ["figure", "profiles", tree, "--columns", "1", "--out", *out]
            return self.work.run_process(argv).cpu
        if kind != "torch":
            return self.work.run_process(["--version"]).cpu
        argv = self._base_landscape_argv(2, tiny=True)
        argv = with_options(argv, {"--out": self.work.path("start.nc")})
        self.work.run(argv)  # warm: the in-process time below is the call's own work
        inside = self.work.run(argv).cpu
        process = min(self.work.run_process(argv).cpu for _ in range(2))
        return max(0.0, process - inside)

    # ---- PINN --------------------------------------------------------------------------

    def pinn_iteration(self, call: Invocation) -> Rate:
        """Seconds per training iteration of this PINN configuration."""
        key = ("pinn", identity(call, TRAINING_IDENTITY_DROP))
        return self._once(key, lambda: self._pinn_iteration(call))

    def _pinn_iteration(self, call: Invocation) -> Rate:
        out = self.work.path("pinn")
        argv = with_options(
            call.argv,
            {
                "--iterations": str(PROBE_ITERATIONS),
                "--out": out,
                "--beta": PROBE_PINN_CELL[1],
                "--lr": PROBE_PINN_CELL[3],
                "--seed": "0",
                "--threads": "1",
                "--device": "cpu",
            },
        )
        self.work.run(argv)  # warm-up (imports, first graph)
        best = None
        for _ in range(PROBE_REPEATS):  # the least disturbed of a few short runs
            timing = self.work.run(argv)
            metrics = json.loads((Path(out) / "metrics.json").read_text())
            training = timing.cpu_share(float(metrics["seconds"]))
            per = training / max(int(metrics["iterations"]), 1)
            if best is None or per < best[0]:
                best = (per, timing, training)
        per, timing, training = best
        self._pinn_checkpoints[identity(call, TRAINING_IDENTITY_DROP)] = str(Path(out) / "model.pt")
        return Rate(per, max(0.0, timing.cpu - training))

    # ---- segmentation ------------------------------------------------------------------

    def pets_image(self, call: Invocation) -> Rate:
        """Seconds per generated image of ``make-pets``."""
        return self._once(
            ("pets", identity(call, ("--out", "--n-trainval", "--n-test"))),
            lambda: self._pets_image(call),
        )

    def _pets_image(self, call: Invocation) -> Rate:
        argv = with_options(call.argv, {"--n-trainval": "8", "--n-test": "4"})
        self.work.run(with_options(argv, {"--out": self.work.path("pets")}))
        timing = self.work.run(with_options(argv, {"--out": self.work.path("pets")}))
        return Rate(timing.cpu / 12)

    def unet_training(self, call: Invocation) -> UNetRate:
        """Seconds per image of training and evaluating this UNet-CRF configuration."""
        key = ("unet-train", identity(call, TRAINING_IDENTITY_DROP))
        return self._once(key, lambda: _probe_unet_training(call.args))

    # ---- analysis of a checkpoint --------------------------------------------------------

    def hessian(self, objective: ObjectiveRef, call: Invocation) -> Rate:
        """Seconds per Hessian-vector product of the objective (at ``call``'s batch), and the
        fixed seconds of a ``hessian`` call (loading, building the gradient's graph)."""
        return self._operator(objective, call)["hessian"]

    def curvature(self, objective: ObjectiveRef, call: Invocation) -> Rate:
        """The same for a ``curvature`` call (the same operator, its own fixed part)."""
        return self._operator(objective, call)["curvature"]

    def directions(self, objective: ObjectiveRef, call: Invocation) -> str:
        """A probe ``hessian.nc`` of the objective for ``call``'s ``--directions``, made by
        the plan's own Hessian call for them (with a small HVP budget) when there is one."""
        return self._operator(objective, self._directions_call(call))["directions"]

    def _operator(self, objective: ObjectiveRef, call: Invocation) -> dict[str, Any]:
        writer = self._directions_call(call) if call.command != "hessian" else call
        key = ("hvp", objective, tuple(_objective_options(writer.argv)), writer.args.top_k)
        return self._once(key, lambda: self._measure_operator(objective, writer))

    def _measure_operator(self, objective: ObjectiveRef, call: Invocation) -> dict[str, Any]:
        """One Hessian call of few HVPs (its eigenvectors are the probe's directions), then
        one curvature call on them: its SLQ steps time the HVPs alone, and what each call
        spends besides its HVPs is its fixed part."""
        checkpoint, scale, argv = self._analysis_argv(objective, call)
        k = int(arg(call.args, "top_k", default=2))
        directions = self.work.path("hessian.nc")
        changes = {"--max-hvp": str(k + 1), "--max-iter": "1", "--out": directions}
        hessian = self.work.run(with_options(argv, changes))
        n_hessian = int(read_attrs(directions)["n_hvp"])
        out = self.work.path("curvature.nc")
        curvature = ["curvature", checkpoint, "--directions", directions, *_CURVATURE_PROBE]
        curvature += ["--trace-max-hvp", str(k + 3)]
        options = with_options(_objective_options(argv), {"--out": out, **dict(_RUNTIME_PAIRS)})
        timing = self.work.run([*curvature, *options])
        attrs = read_attrs(out)
        slq = timing.cpu_share(float(attrs["slq_seconds"])) / max(int(attrs["slq_n_hvps"]), 1)
        hvps = int(attrs["trace_n_hvps"]) + int(attrs["slq_n_hvps"])
        return {
            "hessian": Rate(slq * scale, max(0.0, hessian.cpu - n_hessian * slq)),
            "curvature": Rate(slq * scale, max(0.0, timing.cpu - hvps * slq)),
            "directions": directions,
        }

    def _directions_call(self, call: Invocation) -> Invocation:
        directions = str(getattr(call.args, "directions", None) or "")
        writer = self.study.writer_call(directions, "hessian") if directions else None
        if writer is None:
            dims = int(getattr(call.args, "dims", None) or 2)
            argv = ["hessian", str(call.args.checkpoint), "--top-k", str(dims), "--out", "x"]
            writer = parse_invocation([*argv, *_objective_options(call.argv)])
        return writer

    def landscape(self, objective: ObjectiveRef, call: Invocation) -> Rate:
        """Seconds per landscape point of ``call``'s objective and sampling (at its batch)."""
        key = ("landscape", objective, self._call_key(call, _SIZE_OPTIONS))
        return self._once(key, lambda: self._landscape(objective, call))

    def _landscape(self, objective: ObjectiveRef, call: Invocation) -> Rate:
        _, scale, argv = self._analysis_argv(objective, call)
        argv = with_options(argv, {"--directions": self.directions(objective, call)})
        tiny = self._sized(argv, call, 1)
        out = self.work.path("landscape.nc")
        timing = self.work.run(with_options(tiny, {"--out": out}))
        attrs = read_attrs(out)
        evaluation = timing.cpu_share(float(attrs["seconds"]))
        fixed = max(0.0, timing.cpu - evaluation)
        per_point = evaluation / max(int(attrs["n_points"]), 1)
        if evaluation < 0.3:  # cheap points: time a larger landscape
            points = min(PROBE_LANDSCAPE_POINTS, PROBE_LANDSCAPE_SECONDS / max(per_point, 1e-7))
            larger = self._sized(argv, call, points)
            out = self.work.path("landscape.nc")
            timing = self.work.run(with_options(larger, {"--out": out}))
            attrs = read_attrs(out)
            evaluation = timing.cpu_share(float(attrs["seconds"]))
            per_point = evaluation / max(int(attrs["n_points"]), 1)
        return Rate(per_point * scale, fixed)

    def merge_tree(self, landscape: Invocation, call: Invocation) -> Rate:
        """Seconds per vertex of ``topology`` with ``call``'s options on a landscape sampled
        like ``landscape`` (merge trees cost the same whatever the model)."""
        dims = int(landscape.args.dims)
        scattered = getattr(landscape.args, "sampling", "grid") != "grid"
        key = ("tree", dims, scattered, self._call_key(call))
        return self._once(key, lambda: self._merge_tree(landscape, call, dims))

    def _merge_tree(self, landscape: Invocation, call: Invocation, dims: int) -> Rate:
        """The call on a tiny and a larger probe landscape here (the difference is the cost
        of the extra vertices), and on the tiny one as its own process: the fixed part of a
        merge-tree job includes loading the compiled kernels of its dimension and graph."""
        argv = self._base_landscape_argv(dims, tiny=False)
        argv = with_options(argv, {"--sampling": landscape.args.sampling or "grid"})
        timings = []
        for points in (1, PROBE_LANDSCAPE_POINTS):
            sized = self._sized(argv, landscape, points)
            grid = self._once(("tree-landscape", tuple(sized)), lambda s=sized: self._write(s))
            tree = replace_value(call.argv, str(call.args.landscape), grid)
            tree = with_options(tree, {"--out": self.work.path("tree.nc")})
            if "--threads" in tree:
                tree = with_options(tree, {"--threads": "1"})
            self.work.run(tree)  # warm: the kernels compile or load on first use
            cpu = min(self.work.run(tree).cpu for _ in range(PROBE_REPEATS))
            timings.append((int(read_attrs(grid)["n_points"]), cpu, tree))
        (n0, t0, tiny), (n1, t1, _) = timings
        per_vertex = max(t1 - t0, 0.0) / max(n1 - n0, 1)
        process = self.work.run_process(tiny).cpu
        return Rate(per_vertex, max(0.0, process - n0 * per_vertex))

    # ---- probe inputs ------------------------------------------------------------------

    def _call_key(self, call: Invocation, extra: tuple[str, ...] = ()) -> tuple[str, ...]:
        paths = [
            str(getattr(call.args, name))
            for name in ("checkpoint", "landscape")
            if getattr(call.args, name, None)
        ]
        drop = ("--out", "--directions", "--seed", "--distance", "--threads", "--device")
        return _masked(call, paths, drop + extra)

    def _analysis_argv(
        self, objective: ObjectiveRef, call: Invocation
    ) -> tuple[str, float, list[str]]:
        """The probe checkpoint of ``objective``, the factor from the probe's batch to the
        job's, and ``call``'s arguments pointing at that checkpoint."""
        scale, changes = 1.0, {}
        if objective.kind == "pinn":
            checkpoint = self._pinn_checkpoint(objective)
        elif objective.kind == "unet":
            checkpoint, images = self._unet_checkpoint(objective)
            batch = int(getattr(call.args, "objective_batch", None) or 32)
            probe_batch = min(batch, images)
            scale = batch / probe_batch
            changes["--objective-batch"] = str(probe_batch)
        else:  # the first checkpoint of its family stands for all of them
            checkpoint = self._once(("file", objective), lambda: objective.path)
        argv = replace_value(call.argv, str(call.args.checkpoint), checkpoint)
        changes.update({"--threads": "1", "--device": "cpu"})
        return checkpoint, scale, with_options(argv, changes)

    def _pinn_checkpoint(self, objective: ObjectiveRef) -> str:
        if objective.producer not in self._pinn_checkpoints:
            call = parse_invocation(list(objective.producer))
            self.pinn_iteration(call)
        return self._pinn_checkpoints[objective.producer]

    def _unet_checkpoint(self, objective: ObjectiveRef) -> tuple[str, int]:
        """A one-epoch UNet-CRF of the objective's configuration on a few synthetic images
        (as many as a probe batch holds), and that number of images."""
        if objective.producer not in self._unet:
            producer = with_options(list(objective.producer), {"--lr": "0.001", "--seed": "0"})
            args = parse_invocation([*producer, "--out", "x", "--data", "x"]).args
            size = int(args.image_size)
            images = max(2, min(32, PROBE_PIXELS // (size * size)))
            data = self.work.path("pets")
            pets = ["make-pets", "--n-trainval", str(images), "--n-test", "2"]
            self.work.run([*pets, "--size", str(size), "--out", data])
            out = self.work.path("unet")
            argv = with_options(
                producer,
                {
                    "--epochs": "1",
                    "--limit-trainval": str(images),
                    "--limit-test": "2",
                    "--data": data,
                    "--out": out,
                    "--threads": "1",
                    "--device": "cpu",
                },
            )
            self.work.run(argv)
            checkpoint = sorted((Path(out) / "checkpoints").glob("*.pt"))[-1]
            self._unet[objective.producer] = (str(checkpoint), images)
        return self._unet[objective.producer]

    def _base(self) -> tuple[str, str]:
        """A PINN checkpoint and its Hessian (as many eigenpairs as any landscape has
        dimensions): the inputs of the probes that do not depend on the model."""

        def make() -> tuple[str, str]:
            dims = [
                int(call.args.dims)
                for job in self.study.jobs
                for call in job.calls
                if call.command == "landscape" and call.args is not None
            ]
            out = self.work.path("base")
            argv = ["train-pinn", *PROBE_PINN_CELL, "--seed", "0", "--iterations", "40"]
            self.work.run([*argv, *_RUNTIME, "--out", out])
            checkpoint = str(Path(out) / "model.pt")
            hessian = self.work.path("base_hessian.nc")
            top = str(max([2, *dims]))
            self.work.run(["hessian", checkpoint, "--top-k", top, *_RUNTIME, "--out", hessian])
            return checkpoint, hessian

        return self._once("base", make)

    def _base_landscape_argv(self, dims: int, *, tiny: bool) -> list[str]:
        checkpoint, hessian = self._base()
        argv = ["landscape", checkpoint, "--directions", hessian, "--dims", str(dims)]
        argv += ["--resolution", "3" if tiny else "5", "--distance", "0.1", "--null-model"]
        argv += list(_RUNTIME)
        return argv

    def _write(self, argv: list[str]) -> str:
        """Run a landscape call into a new file of the workspace; its path."""
        out = self.work.path("landscape.nc")
        self.work.run(with_options(argv, {"--out": out}))
        return out

    def _base_landscape(self, dims: int, *, tiny: bool) -> str:
        def make() -> str:
            out = self.work.path("base_landscape.nc")
            self.work.run([*self._base_landscape_argv(dims, tiny=tiny), "--out", out])
            return out

        return self._once(("base-landscape", dims, tiny), make)

    def _base_topology(self) -> str:
        def make() -> str:
            out = self.work.path("base_topology.nc")
            self.work.run(["topology", self._base_landscape(2, tiny=True), "--out", out])
            return out

        return self._once("base-topology", make)

    @staticmethod
    def _sized(argv: list[str], call: Invocation, points: float) -> list[str]:
        """``argv`` of a landscape cut to about ``points`` points, sampled like ``call``."""
        args = call.args
        dims = int(args.dims)
        changes: dict[str, str | list[str] | None] = {"--tiles": None, "--tile": None}
        if getattr(args, "sampling", "grid") in (None, "grid"):
            side = _odd_side(points, dims)
            changes["--resolution"] = str(side if points <= 1 else max(side, 5))
        else:
            n = max(128, int(points))  # enough samples for a k-NN graph
            changes["--n-points"] = str(n)
            given = int(getattr(args, "n_points", 0) or 0)
            center = int(getattr(args, "center_points", 0) or 0)
            if center and given:
                changes["--center-points"] = str(max(1, round(center * n / given)))
        return with_options(argv, changes)


_SUMMARISED = ("startup", "tree", "hvp", "landscape", "pinn", "pets", "unet-train")


def _describe(key: tuple) -> str:
    kind = key[0]
    if kind == "startup":
        return f"start-up of a {key[1]} job"
    if kind == "tree":
        options = list(key[3])
        graph = options[options.index("--connectivity") + 1] if "--connectivity" in options else ""
        return f"merge-tree vertex, {key[1]}-D {'scattered' if key[2] else 'grid'} {graph}"
    if kind in ("hvp", "landscape"):
        unit = "landscape point" if kind == "landscape" else "Hessian-vector product"
        return f"{unit}, {key[1].kind} {key[1].family}".rstrip()
    if kind == "pinn":
        return "PINN training iteration"
    if kind == "pets":
        return "generated image"
    return "UNet-CRF"


def _objective_options(argv: list[str]) -> list[str]:
    """The options of ``argv`` that choose a checkpoint's objective."""
    kept: list[str] = []
    names = ("--objective", "--bn-mode", "--objective-batch", "--objective-batch-seed", "--dtype")
    for index, token in enumerate(argv):
        if token.split("=", 1)[0] in names:
            kept.append(token)
            if "=" not in token and index + 1 < len(argv):
                kept.append(argv[index + 1])
    return kept


def _probe_unet_training(args: Any) -> UNetRate:
    """Per-image seconds of a UNet-CRF training step and forward pass, timed on random images
    at the run's batch size (fewer when they would exceed ``PROBE_PIXELS``)."""
    import torch

    from losstopo.problems.segmentation.unet import build_unet
    from losstopo.runtime import resolve_dtype

    torch.set_num_threads(1)
    torch.manual_seed(0)
    size = int(args.image_size)
    images = max(1, min(int(args.batch_size), PROBE_PIXELS // (size * size)))
    dtype = resolve_dtype(args.dtype)
    model = build_unet(
        {
            "width": args.width,
            "depth": args.depth,
            "crf_iterations": args.crf_iterations,
            "crf_taps": args.crf_taps,
            "crf_bilateral": args.crf_bilateral,
        }
    ).to(dtype)
    x = torch.randn(images, 3, size, size, dtype=dtype)
    y = torch.randint(0, 3, (images, size, size))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)

    def step() -> None:
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()

    def timed(fn, repeats: int = 3) -> float:
        fn()
        best = math.inf
        for _ in range(repeats):
            start = time.process_time()
            fn()
            best = min(best, time.process_time() - start)
        return best / images

    per_train = timed(step)
    model.eval()
    with torch.no_grad():
        per_eval = timed(lambda: model(x))
    return UNetRate(per_train, per_eval)
