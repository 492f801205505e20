"""Channels-last direct calls (``losstopo.layout``): the layout reaches every convolution,
values stay those of the model as written (to float rounding), NCHW-only model code falls
back, and landscapes of in-memory and loader objectives agree with the per-point loop."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.data import DataLoader, TensorDataset

from losstopo.landscape.evaluation import LandscapeEvaluator
from losstopo.layout import ChannelsLastCalls, channels_last, channels_last_convolutions
from losstopo.objective import Objective

CPU = torch.device("cpu")


class ConvolutionInputs(TorchDispatchMode):
    """Records, for every convolution run, whether its input had channels-last strides."""

    def __init__(self):
        super().__init__()
        self.channels_last: list[bool] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func is torch.ops.aten.convolution.default:
            self.channels_last.append(args[0].stride(1) == 1)
        return func(*args, **(kwargs or {}))


class SmallNet(nn.Module):
    """One input channel, BatchNorm, max-pooling, a residual sum and a flatten: the ops a
    user's image classifier strings between its convolutions."""

    def __init__(self, flatten_with_view: bool = False, flatten_by_strides: bool = False):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.conv2 = nn.Conv2d(4, 4, 3, padding=1)
        self.conv3 = nn.Conv2d(4, 6, 3, padding=1)
        self.head = nn.Linear(6 * 4 * 4, 3)
        self.flatten_with_view = flatten_with_view
        self.flatten_by_strides = flatten_by_strides

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.bn(self.conv1(x))), 2)
        x = x + F.relu(self.conv2(x))
        x = F.max_pool2d(self.conv3(x), 2)
        if self.flatten_with_view:
            return self.head(x.view(x.shape[0], -1))  # NCHW strides assumed
        if self.flatten_by_strides:  # NCHW memory order assumed, without an error otherwise
            n, size = x.shape[0], x[0].numel()
            return self.head(x.as_strided((n, size), (size, 1)))
        return self.head(torch.flatten(x, 1))


def _objective(flatten_with_view: bool = False, flatten_by_strides: bool = False) -> Objective:
    torch.manual_seed(0)
    model = SmallNet(flatten_with_view, flatten_by_strides).double()
    model.bn.running_mean.uniform_(-0.5, 0.5)
    model.bn.running_var.uniform_(0.5, 2.0)
    x = torch.randn(5, 1, 16, 16, dtype=torch.float64)
    y = torch.randint(0, 3, (5,))
    return Objective.from_module(model, F.cross_entropy, (x, y))


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(1, 3),
    c=st.integers(1, 5),
    h=st.integers(1, 6),
    w=st.integers(1, 6),
    start=st.sampled_from(["nchw", "channels_last", "transposed"]),
)
def test_channels_last_keeps_values_and_sets_strides(n, c, h, w, start):
    x = torch.randn(n, c, h, w)
    if start == "channels_last":
        x = x.contiguous(memory_format=torch.channels_last)
    elif start == "transposed":
        x = x.transpose(2, 3)
    out = channels_last(x)
    assert torch.equal(out, x)
    assert out.is_contiguous(memory_format=torch.channels_last)
    assert out.stride(1) == 1 or x.shape[1] * x.shape[2] * x.shape[3] == 1
    if c == 1 and x.is_contiguous():
        assert out.data_ptr() == x.data_ptr()  # a view: one channel needs no copy


def test_channels_last_leaves_other_values_alone():
    vector, matrix = torch.randn(4), torch.randn(3, 4)
    assert channels_last(vector) is vector and channels_last(matrix) is matrix
    assert channels_last("text") == "text"


def test_every_convolution_runs_channels_last_with_unchanged_values():
    objective = _objective()
    calls = ChannelsLastCalls(objective.model, CPU)
    assert calls.enabled and len(calls.convolutions) == 3
    params = objective.params
    with torch.no_grad():
        with ConvolutionInputs() as plain:
            expected = objective.loss_fn(params)
        with ConvolutionInputs() as recorded:
            value = calls(objective.loss_fn, params)
    assert plain.channels_last == [False, False, False]
    assert recorded.channels_last == [True] * 3 + [False] * 3  # the layout, then the check
    with torch.no_grad(), ConvolutionInputs() as later:
        assert torch.equal(calls(objective.loss_fn, params), value)
    assert later.channels_last == [True, True, True]  # checked once, then the layout alone
    torch.testing.assert_close(value, expected, rtol=1e-13, atol=0)
    assert not any(m._forward_pre_hooks for m in objective.model.modules())


def test_nchw_only_model_code_falls_back_to_the_model_as_written():
    objective = _objective(flatten_with_view=True)
    with pytest.raises(RuntimeError, match="view"):  # the layout would break this model
        _force(objective)
    calls = ChannelsLastCalls(objective.model, CPU)
    with torch.no_grad():
        expected = objective.loss_fn(objective.params)
        first = calls(objective.loss_fn, objective.params)
        assert not calls.enabled
        second = calls(objective.loss_fn, objective.params)
    assert float(first) == float(expected) == float(second)
    assert not any(m._forward_pre_hooks for m in objective.model.modules())


def _force(objective: Objective, fn=None) -> None:
    """The model under channels-last inputs without the fallback."""
    with torch.no_grad(), channels_last_convolutions(objective.model):
        (fn or (lambda: objective.loss_fn(objective.params)))()


def test_memory_order_read_by_model_code_is_caught_on_the_first_call():
    objective = _objective(flatten_by_strides=True)
    with torch.no_grad():
        expected = objective.loss_fn(objective.params)
        with pytest.raises(AssertionError):  # the layout changes this model's values silently
            _force(
                objective,
                lambda: torch.testing.assert_close(
                    objective.loss_fn(objective.params), expected, rtol=1e-3, atol=1e-3
                ),
            )
        calls = ChannelsLastCalls(objective.model, CPU)
        first = calls(objective.loss_fn, objective.params)
        assert not calls.enabled
        second = calls(objective.loss_fn, objective.params)
    assert float(first) == float(expected) == float(second)


class AssertsLayout(SmallNet):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(x)
        assert h.is_contiguous(), "expects NCHW"
        return super().forward(x)


def test_any_error_under_the_layout_falls_back():
    objective = _objective()
    model = AssertsLayout().double()
    model.load_state_dict(objective.model.state_dict())
    x = torch.randn(5, 1, 16, 16, dtype=torch.float64)
    calls = ChannelsLastCalls(model, CPU)
    with torch.no_grad():
        assert torch.equal(calls(model, x), model(x))
    assert not calls.enabled


def test_the_models_own_errors_still_raise():
    objective = _objective()
    wrong = torch.randn(5, 2, 16, 16, dtype=torch.float64)  # two channels for a 1-channel net
    for checked_first in (False, True):
        calls = ChannelsLastCalls(objective.model, CPU)
        with torch.no_grad():
            if checked_first:
                calls(objective.loss_fn, objective.params)
                assert calls.enabled
            with pytest.raises(RuntimeError, match="channels"):
                calls(lambda: objective.model(wrong))
        assert not any(m._forward_pre_hooks for m in objective.model.modules())


class KeywordConv(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(input=x).sum()


def test_keyword_inputs_get_the_layout_too():
    model = KeywordConv().double()
    x = torch.randn(2, 3, 8, 8, dtype=torch.float64)
    calls = ChannelsLastCalls(model, CPU)
    with torch.no_grad(), ConvolutionInputs() as recorded:
        calls(model, x)
    assert recorded.channels_last == [True, False]  # the layout, then the model as written


def test_models_without_convolutions_run_unchanged():
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    assert not ChannelsLastCalls(model, CPU).enabled
    assert not ChannelsLastCalls(SmallNet(), torch.device("meta")).enabled


def _directions(objective: Objective, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    d = torch.randn(2, objective.n_parameters, generator=generator, dtype=torch.float64)
    return d / d.norm(dim=1, keepdim=True)


def test_one_point_chunks_of_a_cnn_equal_the_per_point_loop():
    objective = _objective()
    evaluator = LandscapeEvaluator(objective, _directions(objective))
    alphas = np.array([[0.1, -0.2], [0.0, 0.0], [-0.3, 0.1], [0.2, 0.2]])
    reference = evaluator.per_point(alphas)  # the model as written, one call per point
    with ConvolutionInputs() as recorded:
        one_at_a_time = np.concatenate([evaluator.batched(alphas[i : i + 1]) for i in range(4)])
    # the first call is checked against the model as written (NCHW) once
    assert recorded.channels_last == [True] * 3 + [False] * 3 + [True] * 9
    np.testing.assert_allclose(one_at_a_time, reference, rtol=1e-13)
    np.testing.assert_allclose(evaluator.batched(alphas), reference, rtol=1e-12)  # vmap
    assert len(set(reference.tolist())) == 4  # four distinct points, not one value repeated


def test_loader_objective_one_point_chunks_equal_the_per_point_loop():
    torch.manual_seed(0)
    model = SmallNet().double()
    x = torch.randn(7, 1, 16, 16, dtype=torch.float64)
    y = torch.randint(0, 3, (7,))
    loader = DataLoader(TensorDataset(x, y), batch_size=3)
    objective = Objective.from_loader(model, F.cross_entropy, loader)
    evaluator = LandscapeEvaluator(objective, _directions(objective, 1))
    alphas = np.array([[0.1, -0.2], [0.0, 0.0], [-0.3, 0.1]])
    whole = Objective.from_module(model, F.cross_entropy, (x, y))  # all 7 as one batch
    reference = LandscapeEvaluator(whole, _directions(objective, 1)).per_point(alphas)
    with ConvolutionInputs() as recorded:
        one_at_a_time = np.concatenate([evaluator.batched(alphas[i : i + 1]) for i in range(3)])
    # 3 points × 3 batches × 3 convolutions, the first batch also run as written
    assert recorded.channels_last == [True] * 3 + [False] * 3 + [True] * 24
    np.testing.assert_allclose(one_at_a_time, reference, rtol=1e-12)
    np.testing.assert_allclose(evaluator.batched(alphas), reference, rtol=1e-12)  # vmap
