"""The worked example runs and shows what its docstring promises."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from matplotlib.image import imread

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "classifier_landscape.py"


def test_example_runs_and_shows_a_single_basin_near_the_trained_weights(tmp_path):
    spec = importlib.util.spec_from_file_location("classifier_landscape", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    numbers = module.run(
        tmp_path / "figure.png", n_per_class=120, iterations=150, resolution=15, resolution_3d=7
    )
    assert numbers["accuracy"] > 0.6
    assert numbers["near_minima"] == 1 and numbers["near_minimum_is_centre"]
    assert all(count >= 1 for count in numbers["minima"].values())
    image = imread(numbers["figure"])
    assert image.shape[1] > 1000
