"""UNet + mean-field CRF: exactness against independent references and torch.func use."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.signal import convolve2d
from torch.func import functional_call, grad, hessian, jvp, replace_all_batch_norm_modules_, vmap

from losstopo.problems.segmentation.crf import CRFConfig, MeanFieldCRF, gaussian_taps, potts
from losstopo.problems.segmentation.unet import UNet, build_unet, count_parameters, unet_hparams


def _crf(n_classes: int = 3, **kwargs) -> MeanFieldCRF:
    return MeanFieldCRF(n_classes, CRFConfig(**kwargs)).double()


def _set(crf: MeanFieldCRF, **values: float) -> None:
    with torch.no_grad():
        for name, value in values.items():
            getattr(crf, name).fill_(value)


def _reference_crf(unary: np.ndarray, sigma: float, weight: float, taps: int, iters: int):
    """Mean field written directly: dense 2-D kernel, one image and class at a time."""
    k = np.arange(taps) - taps // 2
    g = np.exp(-(k**2) / (2 * sigma**2))
    g /= g.sum()
    kernel = np.outer(g, g)
    logits = unary.copy()
    for _ in range(iters):
        q = np.exp(logits - logits.max(axis=1, keepdims=True))
        q /= q.sum(axis=1, keepdims=True)
        m = np.empty_like(q)
        for b in range(q.shape[0]):
            for c in range(q.shape[1]):
                m[b, c] = convolve2d(q[b, c], kernel, mode="same", boundary="fill")
        pairwise = np.empty_like(m)
        for c in range(m.shape[1]):
            pairwise[:, c] = sum(m[:, o] for o in range(m.shape[1]) if o != c)
        logits = unary - weight * pairwise
    return logits


# --- CRF ------------------------------------------------------------------------------


@pytest.mark.parametrize("bilateral", [False, True])
def test_crf_with_zero_weight_is_identity(bilateral):
    torch.manual_seed(1)
    crf = _crf(4, bilateral=bilateral).float()
    _set(crf, weight=0.0, **({"bilateral_weight": 0.0} if bilateral else {}))
    unary = 5 * torch.randn(2, 4, 13, 11)
    image = torch.randn(2, 3, 13, 11)
    out = crf(unary, image)
    assert torch.equal(out, unary)
    assert out.dtype == unary.dtype


@pytest.mark.parametrize("iterations", [1, 4])
def test_crf_matches_dense_reference(iterations):
    torch.manual_seed(2)
    crf = _crf(3, iterations=iterations, taps=7)
    _set(crf, log_sigma=math.log(1.3), weight=1.7)  # exact float64 values
    unary = 2 * torch.randn(2, 3, 9, 12, dtype=torch.float64)
    expected = _reference_crf(unary.numpy(), 1.3, 1.7, 7, iterations)
    out = crf(unary).detach().numpy()
    np.testing.assert_allclose(out, expected, rtol=0, atol=1e-12)
    assert np.abs(out - unary.numpy()).max() > 0.1  # the layer really acts


def test_gaussian_filter_properties():
    crf = _crf(2, taps=11, init_sigma=2.0)
    g = crf.spatial_kernel().detach()
    assert g.shape == (11,)
    assert math.isclose(float(g.sum()), 1.0, abs_tol=1e-15)
    assert torch.equal(g, g.flip(0))
    assert int(g.argmax()) == 5
    const = torch.full((1, 2, 20, 20), 0.37, dtype=torch.float64)
    m = crf.gaussian_filter(const).detach()
    torch.testing.assert_close(m[..., 5:-5, 5:-5], const[..., 5:-5, 5:-5], rtol=0, atol=1e-15)
    assert float(m[0, 0, 0, 0]) < 0.37  # zero padding at the border


def test_sigma_changes_output_and_gets_gradient():
    torch.manual_seed(3)
    crf = _crf(3, iterations=2)
    unary = torch.randn(1, 3, 10, 10, dtype=torch.float64)
    target = torch.randint(0, 3, (1, 10, 10))
    before = crf(unary).detach()
    F.cross_entropy(crf(unary), target).backward()
    assert crf.log_sigma.grad is not None and abs(float(crf.log_sigma.grad)) > 1e-8
    assert crf.weight.grad is not None and abs(float(crf.weight.grad)) > 1e-8
    _set(crf, log_sigma=math.log(4.0))
    assert (crf(unary).detach() - before).abs().max() > 1e-3


def test_bilateral_term_is_gathered_correctly():
    """The unfold-based bilateral message equals a direct double loop over the window."""
    torch.manual_seed(4)
    crf = _crf(2, bilateral=True, window=3)
    _set(crf, log_sigma=math.log(1.5), log_theta_color=math.log(0.7))
    image = torch.randn(1, 3, 5, 6, dtype=torch.float64)
    q = torch.softmax(torch.randn(1, 2, 5, 6, dtype=torch.float64), dim=1)
    out = crf.bilateral_filter(q, crf._bilateral_weights(image)).detach()
    spatial = {
        (di, dj): math.exp(-(di**2 + dj**2) / (2 * 1.5**2))
        for di in (-1, 0, 1)
        for dj in (-1, 0, 1)
        if (di, dj) != (0, 0)
    }
    norm = sum(spatial.values())
    expected = torch.zeros_like(q)
    for i in range(5):
        for j in range(6):
            for (di, dj), s in spatial.items():
                a, b = i + di, j + dj
                if 0 <= a < 5 and 0 <= b < 6:
                    d2 = float(((image[0, :, i, j] - image[0, :, a, b]) ** 2).sum())
                    k = s / norm * math.exp(-d2 / (2 * 0.7**2))
                    expected[0, :, i, j] += k * q[0, :, a, b]
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-14)


@settings(max_examples=25, deadline=None)
@given(
    weight=st.floats(0.0, 20.0),
    sigma=st.floats(0.3, 30.0),
    scale=st.floats(0.0, 50.0),
    seed=st.integers(0, 2**16),
)
def test_crf_output_bounds(weight, sigma, scale, seed):
    """The Potts message lies in [0, 1], so ``unary − w ≤ out ≤ unary`` for w ≥ 0."""
    generator = torch.Generator().manual_seed(seed)
    crf = _crf(3, iterations=3, init_sigma=sigma, init_weight=weight)
    unary = scale * torch.randn(2, 3, 7, 8, generator=generator, dtype=torch.float64)
    out = crf(unary).detach()
    assert torch.isfinite(out).all()
    assert (out <= unary).all()
    assert (out >= unary - float(crf.weight.detach()) - 1e-12).all()


@settings(max_examples=15, deadline=None)
@given(label=st.integers(0, 3), sigma=st.floats(0.3, 5.0))
def test_potts_message_of_constant_one_hot_field(label, sigma):
    """A uniform labelling costs nothing for its own class and 1 for the others inside."""
    crf = _crf(4, taps=9, init_sigma=sigma)
    q = F.one_hot(torch.full((1, 12, 12), label), 4).permute(0, 3, 1, 2).double()
    pairwise = potts(crf.gaussian_filter(q)).detach()[..., 4:-4, 4:-4]
    assert torch.equal(pairwise[:, label], torch.zeros_like(pairwise[:, label]))
    others = [c for c in range(4) if c != label]
    torch.testing.assert_close(pairwise[:, others], torch.ones_like(pairwise[:, others]))


def test_gaussian_taps_standalone():
    g = gaussian_taps(torch.tensor(math.log(1e-3), dtype=torch.float64), 5)
    assert torch.equal(g, torch.tensor([0.0, 0.0, 1.0, 0.0, 0.0], dtype=torch.float64))


# --- UNet -----------------------------------------------------------------------------


def _block_count(c_in: int, c: int) -> int:
    return 9 * c_in * c + c + 2 * c + 9 * c * c + c + 2 * c


def _hand_count(in_ch: int, n_classes: int, width: int, depth: int, crf_params: int) -> int:
    ch = [width * 2**i for i in range(depth)]
    total = sum(_block_count(in_ch if i == 0 else ch[i - 1], ch[i]) for i in range(depth))
    total += sum(_block_count(ch[i + 1] + ch[i], ch[i]) for i in range(depth - 1))
    return total + ch[0] * n_classes + n_classes + crf_params


@pytest.mark.parametrize(
    ("hp", "crf_params"),
    [
        ({"width": 16, "depth": 5}, 2),
        ({"width": 8, "depth": 4}, 2),
        ({"width": 3, "depth": 3, "crf_iterations": 0}, 0),
        ({"width": 4, "depth": 2, "crf_bilateral": True, "n_classes": 5}, 4),
    ],
)
def test_parameter_count_matches_formula(hp, crf_params):
    h = unet_hparams(**hp)
    model = build_unet(hp)
    expected = _hand_count(h["in_channels"], h["n_classes"], h["width"], h["depth"], crf_params)
    assert count_parameters(model) == expected
    assert (model.crf is None) == (crf_params == 0)


def test_paper_sizes():
    assert count_parameters(build_unet({"width": 16, "depth": 5})) == 1_965_605
    assert count_parameters(build_unet({"width": 8, "depth": 4})) == 122_837


@pytest.mark.parametrize("side", [32, 30, 29])
def test_output_shape(side):
    model = build_unet({"width": 2, "depth": 4}).eval()
    out = model(torch.randn(2, 3, side, side + 3))
    assert out.shape == (2, 3, side, side + 3)


def test_build_unet_rejects_unknown_keys():
    with pytest.raises(ValueError, match="widht"):
        build_unet({"widht": 8})


def test_same_seed_same_model():
    x = torch.randn(2, 3, 16, 16)
    outs, states = [], []
    for _ in range(2):
        torch.manual_seed(123)
        model = build_unet({"width": 4, "depth": 3}).eval()
        states.append(model.state_dict())
        outs.append(model(x))
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])
    assert torch.equal(outs[0], outs[1])


def _tiny(dtype: torch.dtype, **hp) -> tuple[UNet, torch.Tensor]:
    """A small model whose BatchNorm running stats are non-trivial, in eval mode."""
    torch.manual_seed(7)
    model = build_unet({"width": 2, "depth": 2, **hp}).to(dtype)
    x = torch.randn(1, 3, 8, 8, dtype=dtype)
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(1.5 * torch.randn(4, 3, 8, 8, dtype=dtype) + 0.3)
    return model.eval(), x


@pytest.mark.parametrize("side", [8, 9])
def test_hvp_matches_dense_hessian(side):
    model, _ = _tiny(torch.float64)
    assert not torch.equal(model.encoders[0].bn1.running_var, torch.ones(2, dtype=torch.float64))
    x = torch.randn(1, 3, side, side, dtype=torch.float64)
    target = torch.randint(0, 3, (1, side, side))
    params = {k: v.detach().clone() for k, v in model.named_parameters()}
    names, shapes = list(params), [p.shape for p in params.values()]
    sizes = [p.numel() for p in params.values()]
    assert sum(sizes) <= 1500

    def loss(p):
        return F.cross_entropy(functional_call(model, p, (x,)), target)

    def flat_loss(theta):
        chunks = torch.split(theta, sizes)
        return loss({n: c.reshape(s) for n, c, s in zip(names, chunks, shapes, strict=True)})

    theta = torch.cat([p.reshape(-1) for p in params.values()])
    dense = hessian(flat_loss)(theta)
    torch.testing.assert_close(dense, dense.T, rtol=0, atol=1e-10)
    generator = torch.Generator().manual_seed(0)
    v = torch.randn(theta.numel(), generator=generator, dtype=torch.float64)
    tangent = {
        n: c.reshape(s) for n, c, s in zip(names, torch.split(v, sizes), shapes, strict=True)
    }
    _, hv = jvp(grad(loss), (params,), (tangent,))
    hv_flat = torch.cat([hv[n].reshape(-1) for n in names])
    expected = dense @ v
    assert float((hv_flat - expected).norm() / expected.norm()) < 1e-8
    # the CRF parameters take part in the curvature
    crf_rows = [i for i, n in enumerate(names) if n.startswith("crf.")]
    offsets = np.cumsum([0, *sizes])
    for i in crf_rows:
        assert float(dense[offsets[i]].abs().max()) > 1e-8


@pytest.mark.parametrize(
    ("dtype", "tol"), [(torch.float32, 1e-6), (torch.float64, 1e-12)], ids=["f32", "f64"]
)
@pytest.mark.parametrize("bilateral", [False, True])
@pytest.mark.parametrize("batch_stats", [False, True])
def test_vmap_over_parameter_sets(dtype, tol, bilateral, batch_stats):
    model, _ = _tiny(dtype, crf_bilateral=bilateral)
    if batch_stats:
        replace_all_batch_norm_modules_(model)
        model.train()
    x = torch.randn(3, 3, 10, 12, dtype=dtype)
    base = {k: v.detach() for k, v in model.named_parameters()}
    generator = torch.Generator().manual_seed(5)
    sets = [
        {
            k: v + 0.05 * torch.randn(v.shape, generator=generator, dtype=dtype)
            for k, v in base.items()
        }
        for _ in range(3)
    ]
    stacked = {k: torch.stack([s[k] for s in sets]) for k in base}
    batched = vmap(lambda p: functional_call(model, p, (x,)))(stacked)
    for i, s in enumerate(sets):
        single = functional_call(model, s, (x,))
        # norm-wise: batched and single convolutions/reductions round differently
        assert float((batched[i] - single).norm() / single.norm()) < tol
    assert not torch.equal(batched[0], batched[1])
    if not batch_stats:  # eval mode leaves the running statistics alone
        assert model.encoders[0].bn1.num_batches_tracked == 3
