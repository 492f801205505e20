"""losstopo against the real peer tools on the paper's PINN, in one run, with ratios.

Peers: Landscaper 1.3.1 (``compute_loss_landscape`` and its merge tree), PyHessian 0.1
(deflated power iteration) and hessian-eigenthings 1.0.0a5 (Lanczos). They need other pins
than losstopo (Landscaper's topopy/nglpy stack wants numpy < 2), so they live in their own
virtual environment and run in a worker process (``benchmarks/peer_worker.py``) that gets
the model state, the fixed point sets and the directions through a ``torch.save`` file and
takes one command at a time, so peer and losstopo runs alternate (interleaved medians).

    python benchmarks/peers.py --setup            # once: benchmarks/.peers-venv (or --venv)
    python benchmarks/peers.py [--checkpoint results/pinn/beta1_lr1_seed0/model.pt]

Same objective (the β = 1 convection PINN loss: 7,851 parameters, IC + BC + residual on
556 input points), same dtype and the same grid points: losstopo evaluates its landscape
along the step vectors Landscaper builds from the same eigenvectors (Landscaper rescales
each tensor and accumulates steps; we rebuild those steps here and pass them to losstopo
as given directions), and the values are compared. A peer that is not installed is
reported as such and its rows are left out.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from losstopo import api
from losstopo.hessian.operator import HVPOperator
from losstopo.hessian.solvers import lanczos
from losstopo.landscape.evaluation import choose_chunk_size
from losstopo.objective import Objective
from losstopo.problems.convection.config import PINNConfig
from losstopo.problems.convection.physics import make_data
from losstopo.problems.convection.training import write_pinn_run
from losstopo.problems.loading import load_objective

HERE = Path(__file__).resolve().parent
DEFAULT_VENV = HERE / ".peers-venv"
PEERS = ("landscaper==1.3.1", "pyhessian==0.1", "hessian-eigenthings==1.0.0a5")
DEFAULT_CHECKPOINT = HERE.parent / "results" / "pinn" / "beta1_lr1_seed0" / "model.pt"


def setup(venv: Path) -> None:
    """Create the peers' virtual environment with the same torch as this one."""
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install"]
    torch_pin = f"torch=={torch.__version__.split('+')[0]}"
    subprocess.run([*pip, torch_pin, *PEERS], check=True)
    print(f"peers installed in {venv}")


class PeerFailed(RuntimeError):
    """A peer tool raised inside the worker (its message is reported, the run goes on)."""


class Peer:
    """The worker in the peers' environment, one JSON command per line."""

    def __init__(self, venv: Path, payload: Path):
        python = venv / "bin" / "python"
        self.installed: dict[str, bool] = {}
        self.process = None
        self.why = ""
        if not python.exists():
            self.why = f"no peer environment at {venv} (run: python benchmarks/peers.py --setup)"
            return
        self.process = subprocess.Popen(
            [str(python), str(HERE / "peer_worker.py"), str(payload)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env={"TQDM_DISABLE": "1", "PATH": "/usr/bin:/bin"},
        )
        hello = json.loads(self.process.stdout.readline() or "{}")
        self.installed = hello.get("installed", {})

    def has(self, name: str) -> bool:
        return bool(self.installed.get(name))

    def __call__(self, cmd: str, **kwargs) -> dict:
        assert self.process is not None
        self.process.stdin.write(json.dumps({"cmd": cmd, **kwargs}) + "\n")
        self.process.stdin.flush()
        reply = json.loads(self.process.stdout.readline())
        if "error" in reply:
            raise PeerFailed(f"{cmd}: {reply['error']}")
        return reply

    def close(self) -> None:
        if self.process is not None:
            self.process.stdin.close()
            self.process.wait(timeout=60)


def landscaper_steps(objective: Objective, vectors: torch.Tensor, steps: int, distance: float):
    """Landscaper's step vectors for these directions, rebuilt in its float32 arithmetic:
    each tensor scaled to norm √numel, then the whole to ‖θ‖·distance/(steps/2)."""
    theta = objective.params
    rows = []
    model_norm = torch.sqrt(sum((p**2).sum() for p in theta.values()))
    for vector in vectors:
        parts = objective.unflatten(vector.to(torch.float32))
        parts = {
            n: d * (torch.sqrt(torch.tensor(float(d.numel()))) / (d.norm() + 1e-10))
            for n, d in parts.items()
        }
        dir_norm = torch.sqrt(sum((d**2).sum() for d in parts.values()))
        scale = ((model_norm * distance) / (steps / 2)) / dir_norm
        rows.append(objective.flatten({n: d * scale for n, d in parts.items()}))
    return torch.stack(rows)


def median(values: list[float]) -> float:
    return statistics.median(values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--setup", action="store_true", help="create the peer environment")
    parser.add_argument("--venv", type=Path, default=DEFAULT_VENV)
    parser.add_argument("--checkpoint", type=Path)
    parser.add_argument("--repeats", type=int, default=3, help="interleaved runs (median)")
    parser.add_argument(
        "--repeats-3d", type=int, default=3, help="Landscaper runs of the 21³ grid (slow)"
    )
    parser.add_argument("--distance", type=float, default=0.01, help="Landscaper's distance")
    parser.add_argument("--k", type=int, default=4)
    parser.add_argument("--tol", type=float, default=1e-4)
    args = parser.parse_args()
    if args.setup:
        setup(args.venv)
        return

    rows: list[tuple[str, str, str, str, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        checkpoint = args.checkpoint or DEFAULT_CHECKPOINT
        if not checkpoint.exists():
            print(f"training the default β = 1 run (no {checkpoint})")
            config = PINNConfig(beta=1.0, lr=1.0, iterations=1000)
            write_pinn_run(config, 0, torch.device("cpu"), tmp)
            checkpoint = tmp / "model.pt"
        torch.set_num_threads(1)
        obj64 = load_objective(checkpoint, torch.device("cpu"), torch.float64)
        obj32 = load_objective(checkpoint, torch.device("cpu"), torch.float32)
        hparams = obj32.metadata
        data = make_data(hparams["beta"], hparams["n_f"], hparams["collocation_seed"])
        sizes = [2, *hparams["hidden"], 1]

        # losstopo's top-k pairs, also the landscape directions
        HVPOperator(obj64)(torch.ones(obj64.n_parameters, dtype=torch.float64))  # warm-up
        ours = [lanczos(HVPOperator(obj64), args.k, tol=args.tol, show_progress=False)]
        vectors = ours[0].eigenvectors.to(torch.float32)
        payload = tmp / "peer_input.pt"
        torch.save(
            {
                "sizes": sizes,
                "state_dict": {k: v.clone() for k, v in obj32.model.state_dict().items()},
                "data": {
                    "x_ic": data.x_ic,
                    "u_ic": data.u_ic,
                    "x_lb": data.x_lb,
                    "x_ub": data.x_ub,
                    "x_f": data.x_f,
                    "residual_direction": data.residual_direction.contiguous(),
                },
                "directions": vectors.clone(),
            },
            payload,
        )
        peer = Peer(args.venv, payload)
        print(f"checkpoint: {checkpoint}")
        print(f"objective: {obj32.description}")
        print(f"parameters: {obj32.n_parameters}  repeats: {args.repeats} (interleaved, median)")
        print(f"torch {torch.__version__}, peer environment: {args.venv}")
        for name in ("landscaper", "pyhessian", "hessian-eigenthings"):
            state = "installed" if peer.has(name) else f"NOT INSTALLED {peer.why}".rstrip()
            print(f"  {name}: {state}")

        # landscapes: 41² and 21³, 1 and 2 threads
        landscapes = {}
        for dims, steps in ((2, 41), (3, 21)):
            step_vectors = landscaper_steps(obj32, vectors[:dims], steps, args.distance)
            half = steps // 2
            for threads in (1, 2):
                torch.set_num_threads(threads)
                api.sample_landscape(obj32, step_vectors, resolution=steps, distance=half)
                peer_rates, our_rates, ratios, diffs = [], [], [], []
                for _ in range(args.repeats if dims == 2 else args.repeats_3d):
                    reply = None
                    if peer.has("landscaper"):
                        out = str(tmp / f"landscaper_{dims}.npy")
                        reply = peer(
                            "landscape",
                            threads=threads,
                            dims=dims,
                            steps=steps,
                            distance=args.distance,
                            out=out,
                        )
                        peer_rates.append(reply["points"] / reply["seconds"])
                    start = time.perf_counter()
                    result = api.sample_landscape(
                        obj32, step_vectors, resolution=steps, distance=half
                    )
                    seconds = time.perf_counter() - start
                    our_rates.append(steps**dims / seconds)
                    ours_loss = result["loss"].values
                    if reply is not None:
                        ratios.append(our_rates[-1] / peer_rates[-1])
                        theirs = np.load(reply["file"])
                        keep = theirs != theirs.max()  # Landscaper jitters its maxima
                        diffs.append(
                            float(
                                np.max(np.abs(theirs - ours_loss)[keep] / np.abs(ours_loss[keep]))
                            )
                        )
                landscapes[(dims, threads)] = ours_loss
                work = f"landscape {steps}^{dims}, {threads} thread{'s' * (threads > 1)}"
                if peer_rates:
                    rows.append(
                        (
                            work,
                            "Landscaper 1.3.1",
                            f"{median(peer_rates):,.0f} pts/s",
                            f"{median(our_rates):,.0f} pts/s",
                            f"{median(ratios):.1f}x (values agree to {max(diffs):.1e} rel.)",
                        )
                    )
                else:
                    rows.append(
                        (
                            work,
                            "Landscaper: not installed",
                            "-",
                            f"{median(our_rates):,.0f} pts/s",
                            "-",
                        )
                    )
        torch.set_num_threads(1)

        # the generic vmap path on the same 41² grid, for reference
        generic = Objective(obj32.model, obj32.params, obj32.loss_fn, obj32.description)
        step_vectors = landscaper_steps(obj32, vectors[:2], 41, args.distance)
        rates = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            api.sample_landscape(generic, step_vectors, resolution=41, distance=20)
            rates.append(41**2 / (time.perf_counter() - start))
        rows.append(
            ("landscape 41^2 (generic vmap path)", "-", "-", f"{median(rates):,.0f} pts/s", "")
        )

        # the floor of the landscape kernel: its hidden-to-hidden batched products alone, at
        # the rate this core runs them in the kernel's chunks, without tanh or anything else
        # primal columns (IC, both boundaries, collocation) and the residual's tangent columns
        columns = len(data.x_ic) + len(data.x_lb) + len(data.x_ub) + 2 * len(data.x_f)
        hidden = hparams["hidden"]
        shapes = [(hidden[i + 1] + 1, hidden[i] + 1) for i in range(len(hidden) - 1)]
        chunk = choose_chunk_size(obj32, 512.0, 41**2)
        per_point = 0.0
        for height, inner in shapes:
            a, b = torch.randn(chunk, height, inner), torch.randn(chunk, inner, columns)
            torch.bmm(a, b)
            start = time.perf_counter()
            for _ in range(100):
                torch.bmm(a, b)
            per_point += (time.perf_counter() - start) / (100 * chunk)
        flops = sum(2 * height * inner * columns for height, inner in shapes)
        bound = 1.0 / per_point
        rows.append(
            (
                "landscape kernel bound, 1 thread",
                "-",
                "-",
                f"{bound:,.0f} pts/s",
                f"hidden-layer GEMMs only: {flops / per_point / 1e9:.0f} GFLOP/s, "
                f"{per_point * 1e6:.0f} us a point, chunks of {chunk}",
            )
        )

        # merge tree of the 41² landscape: interpreted (what a small job runs, without
        # importing numba), then the compiled kernel (large sweeps, or loaded in-process)
        if peer.has("landscaper"):
            from losstopo.topology.mergetree import compiled_kernels

            mt_peer, mt_interpreted, mt_compiled = [], [], []
            np.save(tmp / "tree.npy", landscapes[(2, 1)])
            for _ in range(args.repeats):
                reply = peer("merge_tree", path=str(tmp / "tree.npy"), steps=41, distance=20.0)
                mt_peer.append(reply["seconds"])
                start = time.perf_counter()
                tree = api.merge_tree(landscapes[(2, 1)])
                mt_interpreted.append(time.perf_counter() - start)
            compiled_kernels()
            for _ in range(args.repeats):
                start = time.perf_counter()
                api.merge_tree(landscapes[(2, 1)])
                mt_compiled.append(time.perf_counter() - start)
            for label, times in (("interpreted", mt_interpreted), ("compiled", mt_compiled)):
                rows.append(
                    (
                        f"merge tree 41^2 ({label})",
                        "Landscaper (topopy)",
                        f"{median(mt_peer) * 1e3:,.1f} ms",
                        f"{median(times) * 1e3:,.2f} ms",
                        f"{median(mt_peer) / median(times):,.0f}x "
                        f"({reply['nodes']} vs {len(tree.node_vertex)} nodes; graphs differ)",
                    )
                )

        # top-k Hessian pairs, float64, 1 thread
        hess_peer: dict[str, list[dict]] = {"pyhessian": [], "hessian-eigenthings": []}
        failed: dict[str, str] = {}
        for _ in range(args.repeats):
            for name, cmd, extra in (
                ("pyhessian", "pyhessian", {"max_iter": 100}),
                ("hessian-eigenthings", "eigenthings", {"max_steps": 60}),
            ):
                if peer.has(name) and name not in failed:
                    try:
                        reply = peer(cmd, threads=1, k=args.k, tol=args.tol, **extra)
                        hess_peer[name].append(reply)
                    except PeerFailed as exc:
                        failed[name] = str(exc)
                        print(f"{name} FAILED: {exc}")
            ours.append(lanczos(HVPOperator(obj64), args.k, tol=args.tol, show_progress=False))
        ours_s = median([r.seconds for r in ours[1:]])
        ours_text = f"{ours[-1].n_hvp} HVPs {ours_s:.2f} s res {ours[-1].residuals.max():.1e}"
        for name, label in (
            ("pyhessian", "PyHessian 0.1 power"),
            ("hessian-eigenthings", "eigenthings Lanczos"),
        ):
            runs = hess_peer[name]
            work = f"top-{args.k} Hessian pairs (float64)"
            if not runs:
                rows.append((work, f"{label}: not installed", "-", ours_text, "-"))
                continue
            seconds = median([r["seconds"] for r in runs])
            last = runs[-1]
            rows.append(
                (
                    work,
                    label,
                    f"{last['hvps']} HVPs {seconds:.2f} s res {max(last['residuals']):.1e}",
                    ours_text,
                    f"{seconds / ours_s:.1f}x time, {last['hvps'] / ours[-1].n_hvp:.1f}x HVPs",
                )
            )
        eig = ", ".join(f"{v:.6g}" for v in ours[-1].eigenvalues)
        print(f"losstopo eigenvalues: {eig}  hvp_mode: {ours[-1].extra['hvp_mode']}")
        for name, runs in hess_peer.items():
            if runs:
                print(
                    f"{name} eigenvalues: {', '.join(f'{v:.6g}' for v in runs[-1]['eigenvalues'])}"
                )
        peer.close()

    header = ("work", "peer", "peer rate", "losstopo", "ratio")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(5)]
    line = "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))
    print()
    print(line)
    print("-" * len(line))
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))
    print("ratio = peer time / losstopo time (landscapes: losstopo rate / peer rate), medians")


if __name__ == "__main__":
    main()
