"""Fully connected network of the convection PINN (Krishnapriyan et al. 2021)."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import torch
from torch import nn
from torch.autograd import forward_ad

ACTIVATIONS: dict[str, type[nn.Module]] = {"tanh": nn.Tanh, "relu": nn.ReLU, "gelu": nn.GELU}


class MLP(nn.Module):
    """``in → hidden… → out`` with an activation between layers and PyTorch default init.

    Parameter names are ``layers.layer_<i>.weight|bias``; they define the order of the
    flat parameter vector that Hessian and landscape files refer to.
    """

    def __init__(self, n_in: int, hidden: list[int], n_out: int, activation: str = "tanh"):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r} (choose {', '.join(ACTIVATIONS)})")
        sizes = [n_in, *hidden, n_out]
        layers: list[tuple[str, nn.Module]] = []
        for i in range(len(sizes) - 1):
            layers.append((f"layer_{i}", nn.Linear(sizes[i], sizes[i + 1])))
            if i < len(sizes) - 2:
                layers.append((f"activation_{i}", ACTIVATIONS[activation]()))
        self.layers = nn.Sequential(OrderedDict(layers))

    def forward(
        self, x: torch.Tensor, tangent: torch.Tensor | None = None
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """``u(x)``; with ``tangent``, also the directional derivative of ``u`` along it
        (one tangent per input row), propagated exactly layer by layer with the formulas
        forward-mode autodiff applies (``dz = dx Wᵀ``, then the activation's own backward
        kernel on ``dz``), so the pair equals ``torch.func.jvp`` bit for bit. Written out, it
        is plain reverse-differentiable and batchable tensor code that never enters the
        forward-mode decomposition of ``F.linear``, whose first call imports the compiler
        stack (1.3 s of every short PINN job)."""
        if tangent is None:
            return self.layers(x)
        h, dh = x, tangent
        for layer in self.layers:
            # every layer is called as a module, as without a tangent (forward hooks, e.g.
            # the activation count that sizes landscape chunks, see the same calls)
            if isinstance(layer, nn.Linear):
                h, dh = layer(h), dh @ layer.weight.t()
            elif isinstance(layer, nn.Tanh):
                h = layer(h)
                dh = torch.ops.aten.tanh_backward(dh, h)
            elif isinstance(layer, nn.ReLU):
                h = layer(h)
                dh = torch.ops.aten.threshold_backward(dh, h, 0)
            elif isinstance(layer, nn.GELU):
                dh = torch.ops.aten.gelu_backward(dh, h, approximate=layer.approximate)
                h = layer(h)
            else:
                raise TypeError(f"no tangent rule for {type(layer).__name__}")
        return h, dh


def tanh_(z: torch.Tensor) -> torch.Tensor:
    """``tanh`` in place. For plain CPU tensors (no autograd, no forward-mode tangent, not
    wrapped by a ``torch.func`` transform) numpy's SIMD ``tanh`` does it, on the same memory:
    it measured 6–11× faster than torch's CPU ``tanh`` here, with the same float32 accuracy
    (about 1 ulp; benchmarks/tanh.py); otherwise torch's, which carries the derivatives."""
    plain = (
        z.device.type == "cpu"
        and z.dtype in (torch.float32, torch.float64)
        and not z.requires_grad
        and forward_ad.unpack_dual(z).tangent is None
    )
    if plain:
        try:
            array = z.numpy()
        except RuntimeError:  # a torch.func wrapper (vmap, jvp) has no storage of its own
            return z.tanh_()
        np.tanh(array, out=array)
        return z
    return z.tanh_()


# tanh(20) rounds to exactly 1.0 in float32 and float64: a hidden unit with weight 0 and
# bias 20 therefore carries the constant 1 that the next layer's bias row multiplies.
_ONE_PREACTIVATION = 20.0


def stacked_forward(
    model: MLP,
    params: dict[str, torch.Tensor],
    x: torch.Tensor,
    tangent_rows: int = 0,
    tangent: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Evaluate a tanh MLP for a stack of M parameter sets at once, with an optional
    forward-mode tangent for the last ``tangent_rows`` inputs.

    ``params`` holds tensors with a leading stack axis (``weight``: M × out × in). Each
    layer is one batched matrix product with the bias folded in: activations carry a
    trailing unit equal to exactly 1 (``tanh(20)`` in floating point), so no bias is
    broadcast, copied or added separately, and ``tanh`` runs in place on contiguous
    memory. The tangent is propagated exactly (``dz = dx Wᵀ``, ``d tanh z = (1 − tanh² z)
    dz``; the constant unit has tangent 0). Returns ``u`` (M × N × out) and the tangent of
    ``u`` on the last ``tangent_rows`` rows, or None. This is the batched equivalent of
    ``vmap(functional_call)`` + ``jvp`` used for landscapes.
    """
    names = [name for name, m in model.layers.named_children() if isinstance(m, nn.Linear)]
    if model.layers[1].__class__ is not nn.Tanh and len(names) > 1:
        raise ValueError("stacked_forward supports tanh MLPs only")
    stack = params[f"layers.{names[0]}.weight"].shape[0]
    n_rows, dtype, device = x.shape[0], x.dtype, x.device
    h = torch.ones(stack, n_rows, x.shape[1] + 1, dtype=dtype, device=device)
    h[..., :-1] = x
    dh = None
    if tangent is not None:
        dh = torch.zeros(stack, tangent_rows, x.shape[1] + 1, dtype=dtype, device=device)
        dh[..., :-1] = tangent
    for index, name in enumerate(names):
        weight = params[f"layers.{name}.weight"]  # (M, out, in)
        bias = params[f"layers.{name}.bias"]  # (M, out)
        last = index == len(names) - 1
        n_out = weight.shape[1] + (0 if last else 1)
        augmented = torch.zeros(stack, weight.shape[2] + 1, n_out, dtype=dtype, device=device)
        augmented[:, :-1, : weight.shape[1]] = weight.transpose(1, 2)
        augmented[:, -1, : weight.shape[1]] = bias
        if not last:
            augmented[:, -1, -1] = _ONE_PREACTIVATION
        z = torch.bmm(h, augmented)
        dz = torch.bmm(dh, augmented) if dh is not None else None
        if last:
            return z, dz
        h = tanh_(z)
        if dz is not None:
            dh = dz.mul_(1 - h[:, n_rows - tangent_rows :] ** 2)
    raise ValueError("model has no linear layers")


def _linear_names(model: MLP) -> list[str]:
    """Names of the linear layers of a tanh MLP, in order (raises for other activations)."""
    names = [name for name, m in model.layers.named_children() if isinstance(m, nn.Linear)]
    if len(names) > 1 and model.layers[1].__class__ is not nn.Tanh:
        raise ValueError("the subspace forward supports tanh MLPs only")
    return names


def _augmented(weight: torch.Tensor, bias: torch.Tensor, constant: float | None) -> torch.Tensor:
    """``[[W, b], [0, c]]`` (features-major, bias folded into a trailing input unit); the last
    row, which produces the next layer's constant unit, is omitted when ``constant`` is None."""
    rows = weight.shape[-2] + (0 if constant is None else 1)
    out = weight.new_zeros(*weight.shape[:-2], rows, weight.shape[-1] + 1)
    out[..., : weight.shape[-2], :-1] = weight
    out[..., : weight.shape[-2], -1] = bias
    if constant is not None:
        out[..., -1, -1] = constant
    return out


class SubspaceMLP:
    """A tanh MLP evaluated at θ + Σ αᵢ dᵢ for a stack of M displacements α, with the
    forward-mode tangent of the output along fixed input directions on some input rows.

    Built once per set of directions, so what is affine in α is precomputed: the first
    layer's pre-activations on the fixed inputs are ``Z(θ) + Σ αᵢ Z(dᵢ)`` (one small GEMM for
    all points instead of a batched product with an inner dimension of 3), and the other
    layers' weights of all points come from one GEMM ``θ_A + α D_A`` straight into their
    bias-folded layout. The layout is features-major: activations are (M, features + 1,
    columns), with the constant unit last. Primal columns and tangent columns live in two
    buffers, so ``tanh`` runs in place on contiguous memory (strided, it cost twice as much),
    and each layer is two batched products written into buffers that are reused from call
    to call and stay in cache (``dz = W dh``; the constant unit has tangent 0). Exact: the
    same arithmetic as :func:`stacked_forward` up to rounding order.
    """

    def __init__(
        self,
        model: MLP,
        theta: dict[str, torch.Tensor],
        directions: dict[str, torch.Tensor],
        x: torch.Tensor,
        tangent_rows: int,
        tangent: torch.Tensor,
    ):
        names = _linear_names(model)
        if len(names) < 2:
            raise ValueError("the subspace forward needs at least one hidden layer")
        n = self.n_primal = x.shape[0]
        self.tangent_rows = tangent_rows
        dtype, device = x.dtype, x.device
        # inputs, features-major with the constant unit: primal columns then tangent columns
        inputs = torch.zeros(x.shape[1] + 1, n + tangent_rows, dtype=dtype, device=device)
        inputs[:-1, :n] = x.T
        inputs[-1, :n] = 1.0
        inputs[:-1, n:] = tangent.T
        first = names[0]
        w, b = theta[f"layers.{first}.weight"], theta[f"layers.{first}.bias"]
        dw, db = directions[f"layers.{first}.weight"], directions[f"layers.{first}.bias"]
        a_theta = _augmented(w, b, _ONE_PREACTIVATION)  # (F+1, in+1)
        a_dirs = _augmented(dw, db, 0.0)  # (n, F+1, in+1)
        base = torch.cat([a_theta[None], a_dirs]) @ inputs  # (n+1, F+1, columns)
        # the constant unit must be exactly 20 on primal columns and 0 on tangent columns
        base[0, -1, :] = 0.0
        base[0, -1, :n] = _ONE_PREACTIVATION
        base[1:, -1, :] = 0.0
        self.first_rows = base.shape[1]
        # (base, per-direction) pre-activations of the primal and of the tangent columns
        self.first_primal, self.first_tangent = (
            (part[0].reshape(-1).contiguous(), part[1:].reshape(len(a_dirs), -1).contiguous())
            for part in (base[..., :n], base[..., n:])
        )
        # later layers: bias-folded weights of all points from one GEMM
        blocks_theta, blocks_dirs, self.shapes = [], [], []
        for index, name in enumerate(names[1:], start=1):
            last = index == len(names) - 1
            constant = None if last else _ONE_PREACTIVATION
            w, b = theta[f"layers.{name}.weight"], theta[f"layers.{name}.bias"]
            dw, db = directions[f"layers.{name}.weight"], directions[f"layers.{name}.bias"]
            block = _augmented(w, b, constant)
            blocks_theta.append(block.reshape(-1))
            blocks_dirs.append(_augmented(dw, db, None if last else 0.0).reshape(dw.shape[0], -1))
            self.shapes.append(tuple(block.shape))
        self.weights_base = torch.cat(blocks_theta)
        self.weights_dirs = torch.cat(blocks_dirs, dim=1)
        self._rows = max([self.first_rows] + [shape[0] for shape in self.shapes[:-1]])
        self._workspace: tuple[int, list[torch.Tensor]] | None = None

    def _buffers(self, stack: int) -> list[torch.Tensor]:
        """Flat buffers for stacks of up to the largest size seen so far: two primal, two
        tangent (ping-pong) and the slope; a smaller stack (a slab's last chunk) uses their
        leading part, so the same memory stays in cache."""
        if self._workspace is None or self._workspace[0] < stack:
            n, k, rows = self.n_primal, self.tangent_rows, self._rows
            like = self.weights_base
            sizes = (n, n, k, k, k)
            self._workspace = (stack, [like.new_empty(stack * rows * size) for size in sizes])
        return self._workspace[1]

    @staticmethod
    def _view(buffer: torch.Tensor, stack: int, rows: int, columns: int) -> torch.Tensor:
        """The leading part of a flat buffer as a contiguous (stack, rows, columns) tensor."""
        return buffer[: stack * rows * columns].view(stack, rows, columns)

    def __call__(self, alphas: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Outputs at θ + αD for α (M × n): values (M, outputs, primal columns) and tangents
        (M, outputs, tangent rows)."""
        stack, n, k = alphas.shape[0], self.n_primal, self.tangent_rows
        primal_a, primal_b, tangent_a, tangent_b, slope_buffer = self._buffers(stack)
        rows = self.first_rows
        h = self._view(primal_a, stack, rows, n)
        torch.addmm(self.first_primal[0], alphas, self.first_primal[1], out=h.view(stack, -1))
        dh = self._view(tangent_a, stack, rows, k)
        torch.addmm(self.first_tangent[0], alphas, self.first_tangent[1], out=dh.view(stack, -1))
        weights = torch.addmm(self.weights_base, alphas, self.weights_dirs)
        offset = 0
        for index, shape in enumerate(self.shapes):
            # tanh on the primal columns; the tangent columns times 1 − tanh² of their
            # primal columns (the last k), computed as dh − dh·tanh²
            tanh_(h)
            if k:
                slope = self._view(slope_buffer, stack, h.shape[1], k)
                torch.square(h[..., n - k :], out=slope)
                dh.addcmul_(dh, slope, value=-1.0)
            size = shape[0] * shape[1]
            block = weights[:, offset : offset + size].view(stack, *shape)
            offset += size
            if index == len(self.shapes) - 1:
                return torch.bmm(block, h), torch.bmm(block, dh)
            h_next = self._view(primal_b, stack, shape[0], n)
            dh_next = self._view(tangent_b, stack, shape[0], k)
            torch.bmm(block, h, out=h_next)
            torch.bmm(block, dh, out=dh_next)
            h, dh = h_next, dh_next
            primal_a, primal_b, tangent_a, tangent_b = primal_b, primal_a, tangent_b, tangent_a
        raise AssertionError("unreachable")
