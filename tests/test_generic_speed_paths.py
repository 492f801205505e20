"""The fast paths of generic (non-PINN) objectives give the values of the plain way:
channels-last UNet inputs, the decoder's split convolution, the one-point landscape call,
the arg-max of the pixel metrics, the gradient shared with the HVP graph, and the allocator
setting of the compute commands."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.func import functional_call, grad

from losstopo.hessian.operator import HVPOperator
from losstopo.landscape.evaluation import LandscapeEvaluator
from losstopo.objective import Objective
from losstopo.problems.segmentation.metrics import (
    confusion_matrix,
    pixel_accuracy,
    predicted_classes,
)
from losstopo.problems.segmentation.unet import build_unet


def _unet(seed: int = 3) -> torch.nn.Module:
    torch.manual_seed(seed)
    model = build_unet({"width": 3, "depth": 3}).double()
    model.train()
    with torch.no_grad():  # non-trivial running statistics
        model(torch.randn(4, 3, 12, 12, dtype=torch.float64) * 1.3 + 0.2)
    return model.eval()


def _decoder_on_concatenation(model, x: torch.Tensor) -> torch.Tensor:
    """The UNet's logits with every decoder block applied to an explicit concatenation."""
    from losstopo.problems.segmentation.unet import upsample_to

    skips = []
    for i, encoder in enumerate(model.encoders):
        if i > 0:
            x = F.max_pool2d(x, kernel_size=2)
        x = encoder(x)
        skips.append(x)
    for decoder, skip in zip(model.decoders, reversed(skips[:-1]), strict=True):
        x = decoder(torch.cat([upsample_to(x, skip), skip], dim=1))
    return model.crf(model.head(x))


@pytest.mark.parametrize("side", [12, 13])
def test_split_decoder_convolution_equals_the_concatenation(side):
    model = _unet()
    x = torch.randn(2, 3, side, side, dtype=torch.float64)
    expected = _decoder_on_concatenation(model, x)
    torch.testing.assert_close(model(x), expected, rtol=1e-12, atol=1e-12)


def test_channels_last_inputs_give_the_same_loss_gradient_and_hvp():
    model = _unet()
    x = torch.randn(3, 3, 12, 12, dtype=torch.float64)
    y = torch.randint(0, 3, (3, 12, 12))
    plain = Objective.from_module(model, F.cross_entropy, (x, y))
    nhwc = Objective.from_module(
        model, F.cross_entropy, (x.contiguous(memory_format=torch.channels_last), y)
    )
    torch.testing.assert_close(nhwc(), plain(), rtol=1e-12, atol=0)
    v = torch.randn(
        plain.n_parameters, generator=torch.Generator().manual_seed(0), dtype=torch.float64
    )
    a, b = HVPOperator(plain), HVPOperator(nhwc)
    torch.testing.assert_close(b.gradient(), a.gradient(), rtol=1e-10, atol=1e-13)
    torch.testing.assert_close(b(v), a(v), rtol=1e-10, atol=1e-12)


def test_hvp_graph_gradient_equals_the_functional_gradient():
    model = _unet()
    x = torch.randn(2, 3, 12, 12, dtype=torch.float64)
    y = torch.randint(0, 3, (2, 12, 12))
    objective = Objective.from_module(model, F.cross_entropy, (x, y))
    expected = objective.flatten(grad(objective.loss_fn)(objective.params))
    for mode in ("auto", "forward", "func-reverse"):
        torch.testing.assert_close(
            HVPOperator(objective, mode).gradient(), expected, rtol=1e-12, atol=1e-15
        )
    # and against central differences of the loss along a random direction
    operator = HVPOperator(objective)
    d = torch.randn(
        objective.n_parameters, generator=torch.Generator().manual_seed(1), dtype=torch.float64
    )
    theta, h = objective.theta(), 1e-5
    with torch.no_grad():
        plus = objective.loss_fn(objective.unflatten(theta + h * d))
        minus = objective.loss_fn(objective.unflatten(theta - h * d))
    assert float(operator.gradient() @ d) == pytest.approx(
        float((plus - minus) / (2 * h)), rel=1e-7
    )


def _metric_objective(model, x, y) -> Objective:
    objective = Objective.from_module(model, F.cross_entropy, (x, y))

    def evaluate(p):
        logits = functional_call(model, p, (x,))
        return F.cross_entropy(logits, y), pixel_accuracy(logits, y)

    objective.evaluate_fn = evaluate
    objective.metric_name = "pixel_accuracy"
    return objective


def test_one_point_chunks_equal_the_per_point_loop_and_vmap():
    model = _unet()
    x = torch.randn(2, 3, 12, 12, dtype=torch.float64)
    y = torch.randint(0, 3, (2, 12, 12))
    objective = _metric_objective(model, x, y)
    directions = torch.randn(2, objective.n_parameters, dtype=torch.float64)
    directions /= directions.norm(dim=1, keepdim=True)
    evaluator = LandscapeEvaluator(objective, directions)
    alphas = np.array([[0.01, -0.02], [0.0, 0.0], [-0.03, 0.01]])
    reference = evaluator.per_point(alphas)
    one_at_a_time = np.concatenate([evaluator.batched(alphas[i : i + 1]) for i in range(3)])
    # the direct call (channels-last convolutions) differs from the loop in rounding only
    np.testing.assert_allclose(one_at_a_time, reference, rtol=1e-13)
    np.testing.assert_allclose(evaluator.batched(alphas), reference, rtol=1e-12)  # vmap
    loss, metric = evaluator.batched_with_metric(alphas[:1])
    assert loss.shape == (1,) and metric.shape == (1,)
    assert loss[0] == one_at_a_time[0]
    with torch.no_grad():
        logits = functional_call(model, objective.unflatten(evaluator.points(alphas[:1])[0]), (x,))
    assert metric[0] == float((logits.argmax(dim=1) == y).double().mean())


@settings(max_examples=60, deadline=None)
@given(
    values=st.lists(st.integers(-2, 2), min_size=3 * 2 * 5, max_size=3 * 2 * 5),
    nan_at=st.one_of(st.none(), st.integers(0, 29)),
)
def test_predicted_classes_are_argmax_with_ties_and_nan(values, nan_at):
    logits = torch.tensor(values, dtype=torch.float32).reshape(2, 3, 5)
    if nan_at is not None:
        logits.view(-1)[nan_at] = float("nan")
    assert torch.equal(predicted_classes(logits), logits.argmax(dim=1))
    masks = torch.randint(0, 3, (2, 5), generator=torch.Generator().manual_seed(0))
    expected = np.zeros((3, 3), dtype=np.int64)
    for t, p in zip(
        masks.reshape(-1).tolist(), logits.argmax(dim=1).reshape(-1).tolist(), strict=True
    ):
        expected[t, p] += 1
    np.testing.assert_array_equal(confusion_matrix(logits, masks), expected)


FORWARD_PASSES = """
import resource, sys
import torch
import torch.nn.functional as F
from losstopo.runtime import keep_freed_memory
if sys.argv[1] == "keep":
    assert keep_freed_memory()
torch.set_num_threads(1)
x, w = torch.randn(8, 8, 64, 64), torch.randn(8, 8, 3, 3)
def forward(x):
    for _ in range(6):  # 1 MiB activations, allocated and freed layer by layer
        x = F.relu(F.conv2d(x, w, padding=1)) * 0.5
    return x.sum()
forward(x)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    forward(x)
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator only")
def test_freed_activations_are_reused_without_page_faults():
    """Forward passes of 1 MiB activations page-fault thousands of times with glibc's
    default settings (1,500-4,300 faults per 5 passes measured) and a few hundred at most
    once freed blocks are kept for reuse."""

    def faults(mode: str) -> int:
        out = subprocess.run(
            [sys.executable, "-c", FORWARD_PASSES, mode], capture_output=True, text=True, check=True
        )
        return int(out.stdout.strip().splitlines()[-1])

    kept = faults("keep")
    assert kept < 2000, kept
    assert faults("default") > kept


def test_unet_activation_count_is_every_module_output_counted_by_hand():
    """Landscape chunks are sized from the activations counted by forward hooks: the split
    decoder convolution is still a module call, so every block output is seen."""
    from losstopo.landscape.evaluation import activation_elements

    width, depth, side, images = 3, 3, 12, 2
    torch.manual_seed(0)
    model = build_unet({"width": width, "depth": depth}).double().eval()
    x = torch.randn(images, 3, side, side, dtype=torch.float64)
    y = torch.randint(0, 3, (images, side, side))
    objective = Objective.from_module(model, F.cross_entropy, (x, y))
    per_image = 0
    for level in range(depth):  # encoder blocks: conv1, bn1, conv2, bn2 and the block
        per_image += 5 * width * 2**level * (side // 2**level) ** 2
    for level in range(depth - 1):  # decoder blocks, the same five maps
        per_image += 5 * width * 2**level * (side // 2**level) ** 2
    per_image += 3 * 3 * side**2  # head, CRF, the UNet's own output
    assert activation_elements(objective) == images * per_image


@pytest.mark.parametrize("bilateral", [False, True])
@pytest.mark.parametrize("batch_norm", ["eval", "batch"])
def test_channels_last_with_the_bilateral_crf_and_batch_statistics(bilateral, batch_norm):
    from torch.func import replace_all_batch_norm_modules_

    torch.manual_seed(4)
    model = build_unet({"width": 3, "depth": 2, "crf_bilateral": bilateral}).double()
    if batch_norm == "batch":
        replace_all_batch_norm_modules_(model)
        model.train()
    else:
        model.eval()
    x = torch.randn(3, 3, 10, 10, dtype=torch.float64)
    with torch.no_grad():
        expected = model(x)
        got = model(x.contiguous(memory_format=torch.channels_last))
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)
