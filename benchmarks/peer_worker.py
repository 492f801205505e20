"""Runs the peer tools (Landscaper, PyHessian, hessian-eigenthings) inside their own
virtual environment for ``benchmarks/peers.py``.

It must not import losstopo (the peers pin other numpy versions). It reads the PINN, its
fixed point sets and the directions from a ``torch.save`` file written by ``peers.py``,
then answers one JSON command per line on stdin with one JSON line on stdout, so the two
processes can take turns and load from other tenants hits both alike. Tools' own prints go
to stderr. Timings are taken here, around the peer's call only.

    python benchmarks/peer_worker.py INPUT.pt
"""

from __future__ import annotations

import importlib.util
import json
import sys
import time
from collections import OrderedDict

import numpy as np
import torch
from torch import nn
from torch.func import jvp

REPLY = sys.stdout
sys.stdout = sys.stderr  # peers print progress; keep the protocol channel clean


class PINN(nn.Module):
    """The same tanh MLP (and parameter names) as losstopo's convection network."""

    def __init__(self, sizes: list[int]):
        super().__init__()
        layers: list[tuple[str, nn.Module]] = []
        for i in range(len(sizes) - 1):
            layers.append((f"layer_{i}", nn.Linear(sizes[i], sizes[i + 1])))
            if i < len(sizes) - 2:
                layers.append((f"activation_{i}", nn.Tanh()))
        self.layers = nn.Sequential(OrderedDict(layers))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


def pinn_loss(model: nn.Module, data: dict[str, torch.Tensor]) -> torch.Tensor:
    """IC + periodic BC + residual MSE, the residual ``u_t + β u_x`` by one forward-mode
    ``jvp`` along ``(β, 1)``: the same arithmetic as losstopo's convection objective."""
    ic = torch.mean((model(data["x_ic"]) - data["u_ic"]) ** 2)
    bc = torch.mean((model(data["x_lb"]) - model(data["x_ub"])) ** 2)
    _, residual = jvp(model, (data["x_f"],), (data["residual_direction"],))
    return ic + bc + torch.mean(residual**2)


class Session:
    def __init__(self, path: str):
        payload = torch.load(path, weights_only=True)
        self.payload = payload
        self.sizes = [int(s) for s in payload["sizes"]]

    def model(self, dtype: torch.dtype) -> tuple[nn.Module, dict[str, torch.Tensor]]:
        model = PINN(self.sizes)
        model.load_state_dict(self.payload["state_dict"])
        model = model.to(dtype)
        data = {k: v.to(dtype) for k, v in self.payload["data"].items()}
        return model, data

    def split(self, flat: torch.Tensor, model: nn.Module) -> list[torch.Tensor]:
        out, offset = [], 0
        for p in model.parameters():
            out.append(flat[offset : offset + p.numel()].reshape(p.shape).to(p.dtype).clone())
            offset += p.numel()
        return out

    # -- Landscaper -----------------------------------------------------------------------
    def landscape(self, dims: int, steps: int, distance: float, out: str) -> dict:
        from landscaper.compute import compute_loss_landscape

        model, data = self.model(torch.float32)
        dirs = [self.split(d, model) for d in self.payload["directions"][:dims]]

        def scalar_fn(m: nn.Module, d: dict[str, torch.Tensor]) -> float:
            return float(pinn_loss(m, d))

        start = time.perf_counter()
        loss, _coords = compute_loss_landscape(
            model, data, dirs, scalar_fn, steps=steps, distance=distance, dim=dims, device="cpu"
        )
        seconds = time.perf_counter() - start
        np.save(out, np.asarray(loss, dtype=np.float64))
        return {"seconds": seconds, "points": int(steps**dims), "file": out}

    def merge_tree(self, path: str, steps: int, distance: float) -> dict:
        from landscaper.landscape import LossLandscape

        loss = np.load(path)
        coords = [np.linspace(-distance, distance, steps) for _ in range(loss.ndim)]
        start = time.perf_counter()
        tree = LossLandscape(loss, coords).get_sublevel_tree()
        seconds = time.perf_counter() - start
        nodes = len(getattr(tree, "nodes", {}))
        return {"seconds": seconds, "nodes": nodes}

    # -- Hessians ---------------------------------------------------------------------------
    def residuals(self, model, data, values, vectors) -> list[float]:
        """``‖Hv − λv‖/|λ|`` by exact double-backward HVPs (not timed)."""
        params = list(model.parameters())
        grads = torch.autograd.grad(pinn_loss(model, data), params, create_graph=True)
        out = []
        for value, vector in zip(values, vectors, strict=True):
            split = self.split(vector.to(torch.float64), model)
            hv = torch.autograd.grad(grads, params, grad_outputs=split, retain_graph=True)
            hv = torch.cat([h.reshape(-1) for h in hv])
            out.append(float((hv - float(value) * vector).norm() / abs(float(value))))
        return out

    def pyhessian(self, k: int, tol: float, max_iter: int) -> dict:
        ph = importlib.import_module("pyhessian.hessian")  # the module, not its class

        model, data = self.model(torch.float64)
        counter = [0]
        original = ph.hessian_vector_product

        def counted(grads, params, v):
            counter[0] += 1
            return original(grads, params, v)

        ph.hessian_vector_product = counted
        torch.manual_seed(0)
        torch.set_default_dtype(torch.float64)  # its start vectors are torch.randn(...)
        start = time.perf_counter()
        # PyHessian's constructor wants (inputs, targets) for criterion(model(x), y); a PINN
        # loss is not of that form, so set up what its constructor would (params, gradsH)
        solver = ph.hessian.__new__(ph.hessian)
        solver.model, solver.criterion, solver.full_dataset, solver.device = model, None, 0, "cpu"
        params = [p for p in model.parameters() if p.requires_grad]
        loss = pinn_loss(model, data)
        grads = torch.autograd.grad(loss, params, create_graph=True)
        solver.params, solver.gradsH = params, list(grads)
        values, vectors = solver.eigenvalues(maxIter=max_iter, tol=tol, top_n=k)
        seconds = time.perf_counter() - start
        torch.set_default_dtype(torch.float32)
        ph.hessian_vector_product = original
        flat = [torch.cat([t.reshape(-1) for t in v]).detach() for v in vectors]
        res = self.residuals(model, data, values, flat)
        return {"seconds": seconds, "hvps": counter[0], "eigenvalues": values, "residuals": res}

    def eigenthings(self, k: int, tol: float, max_steps: int) -> dict:
        from hessian_eigenthings import HessianOperator, lanczos

        model, data = self.model(torch.float64)
        counter = [0]

        def loss_fn(m, batch):
            counter[0] += 1
            return pinn_loss(m, batch)

        operator = HessianOperator(model, [data], loss_fn)
        tried = []
        steps = 2 * k  # the library's default Krylov size; grown until pairs are exact
        while steps <= max_steps:
            counter[0] = 0
            start = time.perf_counter()
            result = lanczos(operator, k=k, max_iter=steps, tol=tol, which="LM", seed=0)
            seconds = time.perf_counter() - start
            hvps = counter[0]
            res = self.residuals(model, data, result.eigenvalues.tolist(), result.eigenvectors)
            tried.append({"steps": steps, "seconds": seconds, "max_residual": max(res)})
            if max(res) <= tol:
                break
            steps += 2
        return {
            "seconds": seconds,
            "hvps": hvps,
            "steps": steps,
            "eigenvalues": result.eigenvalues.tolist(),
            "residuals": res,
            "tried": tried,
        }


def installed() -> dict:
    return {
        name: importlib.util.find_spec(module) is not None
        for name, module in (
            ("landscaper", "landscaper"),
            ("pyhessian", "pyhessian"),
            ("hessian-eigenthings", "hessian_eigenthings"),
        )
    }


def main() -> None:
    session = Session(sys.argv[1])
    print(json.dumps({"ready": True, "installed": installed()}), file=REPLY, flush=True)
    for line in sys.stdin:
        if not line.strip():
            continue
        command = json.loads(line)
        torch.set_num_threads(int(command.pop("threads", 1)))
        name = command.pop("cmd")
        try:
            reply = getattr(session, name)(**command)
        except Exception as exc:  # reported to the driver, which prints it
            reply = {"error": f"{type(exc).__name__}: {exc}"}
        print(json.dumps(reply, default=float), file=REPLY, flush=True)


if __name__ == "__main__":
    main()
