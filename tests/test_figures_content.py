"""Figure content checked through the figure's data: polygons, markers, colours, limits
and texts (never only "the PNG is not blank")."""

from __future__ import annotations

from itertools import combinations

import matplotlib
import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import LogNorm

from losstopo.errors import LosstopoError
from losstopo.plots.common import relative_luminance

matplotlib.use("Agg")
import matplotlib.pyplot as plt


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


# --- helpers -----------------------------------------------------------------------------


def well_field(side: int, dims: int, seed: int, level: float = 1.0) -> np.ndarray:
    """A bowl with a well at the centre (θ) and a few random side wells."""
    rng = np.random.default_rng(seed)
    axes = np.meshgrid(*([np.linspace(-1, 1, side)] * dims), indexing="ij")
    field = 3.0 + 4.0 * sum(a**2 for a in axes)
    field -= 2.5 * np.exp(-sum(a**2 for a in axes) / 0.05)
    for _ in range(4):
        centre = rng.uniform(-0.8, 0.8, dims)
        depth, width = rng.uniform(0.5, 2.5), rng.uniform(0.01, 0.05)
        field -= depth * np.exp(
            -sum((a - c) ** 2 for a, c in zip(axes, centre, strict=True)) / width
        )
    return level * (field - field.min() + 0.05)


def write_panel(directory, field, beta=1.0, lr=1.0, seed=0, error=0.01, distance=0.1, **extra):
    """A landscape with PINN-like checkpoint attributes and its topology (via the CLI);
    returns the topology path (its ``source`` is the landscape path as given)."""
    from losstopo.cli import main
    from losstopo.io.landscape_file import landscape_dataset, write_landscape
    from losstopo.landscape.grid import LandscapeResult, grid_axes

    directory.mkdir(parents=True, exist_ok=True)
    dims = field.ndim
    result = LandscapeResult(
        field, grid_axes(dims, field.shape[0], distance), chunk_size=1, seconds=1.0
    )
    attrs = {
        "problem": "convection",
        "problem_hparams": {"beta": beta, "lr": lr},
        "checkpoint_seed": seed,
        "checkpoint_metrics": {"relative_l2_error": error},
        "distance": distance,
        **extra,
    }
    landscape = directory / f"landscape_{dims}d.nc"
    write_landscape(landscape_dataset(result, np.ones(dims), np.eye(dims), attrs), landscape)
    topology = directory / f"topology_{dims}d.nc"
    assert main(["topology", str(landscape), "--out", str(topology)]) == 0
    return topology


@pytest.fixture(scope="module")
def panel_files(tmp_path_factory):
    """Six 3-D panels (three cells × two seeds) at very different loss levels, and one 4-D."""
    root = tmp_path_factory.mktemp("panels")
    cells = [(1.0, 1.0, 1e-3, 0.01), (30.0, 0.01, 1.0, 0.3), (70.0, 0.01, 100.0, 1.0)]
    files = []
    for i, (beta, lr, level, error) in enumerate(cells):
        for seed in (0, 1):
            field = well_field(9, 3, 10 * i + seed, level)
            files.append(
                write_panel(root / f"b{beta:g}_s{seed}", field, beta, lr, seed, error * (1 + seed))
            )
    four = write_panel(root / "b1_s0", well_field(5, 4, 3), 1.0, 1.0, 0, 0.01)
    return files, four


def grid_of(files, **kwargs):
    from losstopo.io.panels import Panel, read_panel
    from losstopo.plots.profile_grid import profile_grid

    return profile_grid([read_panel(Panel.parse(str(f))) for f in files], **kwargs)


def panels_of(fig):
    """The profile axes, in panel order (those holding a profile's polygons)."""
    return [
        ax
        for ax in fig.axes
        if ax.get_visible() and any(c.get_gid() == "theta" for c in ax.collections)
    ]


def by_gid(ax, gid):
    return [c for c in ax.collections if c.get_gid() == gid]


def _tick_labels(axis) -> list:
    """Tick labels drawn on ``axis``: visible, non-empty and within the view limits."""
    low, high = sorted(axis.get_view_interval())
    out = []
    for locs, labels in (
        (axis.get_majorticklocs(), axis.get_majorticklabels()),
        (axis.get_minorticklocs(), axis.get_minorticklabels()),
    ):
        for loc, label in zip(locs, labels, strict=False):
            if low - 1e-12 <= loc <= high + 1e-12:
                out.append(label)
    return out


def visible_texts(fig) -> list:
    """Every drawn, non-empty text: figure texts and legends, and per visible axes its
    title, texts, axis labels and tick labels (a colour bar is an axes too)."""
    texts = list(fig.texts)
    if fig._suptitle is not None:
        texts.append(fig._suptitle)
    for legend in fig.legends:
        texts.extend(legend.get_texts())
    for ax in fig.axes:
        if not ax.get_visible():
            continue
        texts += [ax.title, ax._left_title, ax._right_title, *ax.texts]
        texts += [ax.xaxis.label, ax.yaxis.label]
        texts += _tick_labels(ax.xaxis) + _tick_labels(ax.yaxis)
    unique = list({id(t): t for t in texts}.values())
    return [t for t in unique if t.get_visible() and t.get_text().strip()]


def text_contrasts(fig, minimum: float = 0.3) -> list[tuple[str, float, float]]:
    """(text, its luminance, its background's) for every text whose background (its own
    box, or the pixels under it rendered without any text) is too close in luminance."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    texts = [t for t in visible_texts(fig) if t.get_window_extent(renderer).width > 0]
    boxes = [t.get_window_extent(renderer) for t in texts]
    for t in texts:
        t.set_alpha(0.0)
        if t.get_bbox_patch() is not None:
            t.get_bbox_patch().set_alpha(0.0)
    fig.canvas.draw()
    pixels = np.asarray(fig.canvas.buffer_rgba())[..., :3] / 255.0
    height = pixels.shape[0]
    bad = []
    for text, box in zip(texts, boxes, strict=True):
        patch = text.get_bbox_patch()
        if patch is not None and patch.get_facecolor()[3] > 0:
            background = relative_luminance(patch.get_facecolor()[:3])
        else:
            x0, x1 = int(max(box.x0, 0)), int(min(box.x1, pixels.shape[1]))
            y0, y1 = int(max(height - box.y1, 0)), int(min(height - box.y0, height))
            region = pixels[y0:y1, x0:x1].reshape(-1, 3)
            if region.size == 0:
                continue
            rgb = np.median(region, axis=0)
            background = relative_luminance(tuple(rgb))
        own = relative_luminance(text.get_color())
        if abs(own - background) < minimum:
            bad.append((text.get_text(), own, background))
    return bad


# --- the trained basin in the drawing -------------------------------------------------------


def test_drawn_basin_outline_and_theta_marker_match_the_profile():
    from test_profile import two_wells

    from losstopo.plots.profile import draw_profile, relative_norm
    from losstopo.topology.mergetree import merge_tree
    from losstopo.topology.profile import landscape_profile

    tree = merge_tree(two_wells(), "full")
    profile = landscape_profile(tree)
    _, ax = plt.subplots()
    collection = draw_profile(ax, profile, relative_norm([profile]), colour="relative", y="log")
    (outline,) = by_gid(ax, "trained-basin")
    basin = [p for p in profile.polygons if p.in_basin]
    assert 0 < len(basin) < len(profile.polygons)
    assert len(outline.get_paths()) == len(basin)
    for path, poly in zip(outline.get_paths(), basin, strict=True):
        np.testing.assert_allclose(path.vertices[: len(poly.x), 0], poly.x / profile.width)
        np.testing.assert_allclose(path.vertices[: len(poly.y), 1], poly.y + profile.log_shift)
    assert outline.get_linewidths()[0] > collection.get_linewidths()[0]
    (theta,) = by_gid(ax, "theta")
    assert theta.get_label() == "θ (trained)"
    np.testing.assert_allclose(
        theta.get_offsets()[0], [profile.theta[0] / profile.width, profile.theta[1]]
    )
    (saddles,) = by_gid(ax, "saddles")
    np.testing.assert_allclose(saddles.get_offsets()[:, 0], profile.saddles[:, 0] / 441)
    # fill = decades above the loss at θ
    np.testing.assert_allclose(collection.get_array(), [p.fill_decades for p in profile.polygons])
    assert ax.get_xlim() == (0.0, 1.0) and ax.get_xlabel() == "fraction of grid points"


# --- colour, loss axis and x axis of profile grids ------------------------------------------


def test_relative_colour_is_one_clipped_scale_for_every_panel(panel_files):
    files, _ = panel_files
    fig = grid_of(files, columns=2)
    panels = panels_of(fig)
    assert len(panels) == 6
    collections = [ax.collections[0] for ax in panels]
    norms = {(c.norm.vmin, c.norm.vmax) for c in collections}
    assert len(norms) == 1  # one scale
    values = np.concatenate([np.asarray(c.get_array()) for c in collections])
    low, high = np.percentile(values, [2, 98])
    assert collections[0].norm.vmin == pytest.approx(low)
    assert collections[0].norm.vmax == pytest.approx(high)
    assert not isinstance(collections[0].norm, LogNorm)
    (bar,) = [ax for ax in fig.axes if ax.get_label() == "colour-bar"]
    label = bar.get_ylabel()
    assert "decades above loss at θ" in label and "2–98 % clipped" in label
    # relative to θ, the same landscape at another loss level has the same colours
    from losstopo.topology.mergetree import merge_tree
    from losstopo.topology.profile import landscape_profile

    field = well_field(7, 3, 5)
    low_level, high_level = (landscape_profile(merge_tree(f)) for f in (field, 1e5 * field))
    np.testing.assert_allclose(
        [p.fill_decades for p in low_level.polygons],
        [p.fill_decades for p in high_level.polygons],
    )


def test_absolute_colour_option_keeps_the_log_mean_loss_scale(panel_files):
    files, _ = panel_files
    fig = grid_of(files[:2], columns=2, colour="absolute")
    collection = panels_of(fig)[0].collections[0]
    assert isinstance(collection.norm, LogNorm)
    (bar,) = [ax for ax in fig.axes if ax.get_label() == "colour-bar"]
    assert bar.get_ylabel() == "mean loss of arc"
    with pytest.raises(LosstopoError, match="unknown colour"):
        grid_of(files[:2], columns=2, colour="rainbow")


def test_rows_share_loss_limits_and_x_is_the_fraction_of_grid_points(panel_files):
    files, four = panel_files
    fig = grid_of(files, columns=2)
    panels = panels_of(fig)
    rows = [panels[0:2], panels[2:4], panels[4:6]]
    for row in rows:
        assert row[0].get_ylim() == row[1].get_ylim()
        assert row[0].get_yscale() == "log"
    assert rows[0][0].get_ylim() != rows[2][0].get_ylim()  # each row its own depth
    for ax in panels:
        assert ax.get_xlim() == (0.0, 1.0)
        x = np.concatenate([p.vertices[:, 0] for p in ax.collections[0].get_paths()])
        assert x.min() >= -1e-9 and x.max() <= 1 + 1e-9
    assert panels[-1].get_xlabel() == "fraction of grid points"
    # 3-D and 4-D panels on the same 0–1 axis
    mixed = panels_of(grid_of([files[0], four], columns=2))
    for ax in mixed:
        x = np.concatenate([p.vertices[:, 0] for p in ax.collections[0].get_paths()])
        assert x.max() == pytest.approx(1.0, abs=0.02) and x.min() == pytest.approx(0, abs=0.02)


def test_relative_loss_axis_is_shared_by_the_whole_figure(panel_files):
    files, _ = panel_files
    fig = grid_of(files, columns=2, y="relative")
    panels = panels_of(fig)
    assert len({ax.get_ylim() for ax in panels}) == 1
    assert all(ax.get_yscale() == "log" for ax in panels)
    for ax in panels:
        (theta,) = by_gid(ax, "theta")
        assert theta.get_offsets()[0, 1] == pytest.approx(1.0)
    assert panels[0].get_ylabel() == "loss / loss at θ"


# --- labels, titles from topology files, layout ---------------------------------------------


def test_titles_and_annotations_come_from_the_topology_files(panel_files):
    from losstopo.io.topology_file import tree_from_files
    from losstopo.topology.descriptors import trained_basin

    files, _ = panel_files
    fig = grid_of(files[:2], columns=2)
    first, second = panels_of(fig)
    title = first.get_title()
    assert "β=1, lr=1, seed 0" in title and "error 0.01" in title
    assert "3-D" in title and "extent ±0.1" in title and "full" in title
    assert "seed 1" in second.get_title() and "error 0.02" in second.get_title()
    (note,) = [t for t in first.texts if t.get_gid() == "panel-annotation"]
    tree = tree_from_files(files[0], files[0].parent / "landscape_3d.nc")
    basin = trained_basin(tree)
    lines = note.get_text().split("\n")
    assert lines[0] == f"{tree.n_minima} min, {tree.n_saddles} sad (full)"
    assert f"{basin.depth_decades:.1f} decades" in lines[1]
    assert lines[1].startswith("θ basin ") and "% of grid" in lines[1]


def test_topology_panels_find_their_landscape_relative_to_the_working_directory(
    tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    from pathlib import Path

    topology = write_panel(Path("runs/a"), well_field(7, 3, 1))
    assert not topology.is_absolute()
    fig = grid_of([topology], columns=1)
    assert "β=1, lr=1, seed 0" in panels_of(fig)[0].get_title()
    from losstopo.io.panels import Panel

    with pytest.raises(LosstopoError, match="does not exist"):
        Panel.parse("missing/topology_3d.nc").files()
    with pytest.raises(LosstopoError, match="is not RUN_DIR:DIMS"):
        Panel.parse("runs/a")


def test_row_and_column_labels_sit_left_of_rows_and_above_columns(panel_files):
    files, _ = panel_files
    rows = ["success\nβ=1, lr=1", "transition\nβ=30, lr=0.01", "failure\nβ=70, lr=0.01"]
    fig = grid_of(
        files,
        columns=2,
        row_labels=rows,
        column_labels=["seed 0", "seed 1"],
        title="Fig. 3 profiles",
    )
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    panels = panels_of(fig)
    row_texts = [
        t for t in panels[0].texts + panels[2].texts + panels[4].texts if t.get_gid() == "row-label"
    ]
    assert [t.get_text() for t in row_texts] == rows
    for text, ax in zip(row_texts, panels[0::2], strict=True):
        box, frame = text.get_window_extent(renderer), ax.get_window_extent(renderer)
        assert box.x1 < ax.yaxis.label.get_window_extent(renderer).x0
        assert frame.y0 < (box.y0 + box.y1) / 2 < frame.y1
    column_texts = [t for ax in panels[:2] for t in ax.texts if t.get_gid() == "column-label"]
    assert [t.get_text() for t in column_texts] == ["seed 0", "seed 1"]
    for text, ax in zip(column_texts, panels[:2], strict=True):
        assert text.get_window_extent(renderer).y0 >= ax.title.get_window_extent(renderer).y1
    suptitle = fig.get_suptitle()
    assert suptitle == "Fig. 3 profiles"
    with pytest.raises(LosstopoError, match="2 row label"):
        grid_of(files, columns=2, row_labels=rows[:2])
    with pytest.raises(LosstopoError, match="1 column label"):
        grid_of(files, columns=2, column_labels=["seed 0"])


def overlapping_texts(fig) -> list[tuple[str, str]]:
    """Pairs of drawn texts (titles, labels, ticks, annotations, legend, colour bar) whose
    boxes come closer than 2 px."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    boxes = [(t, t.get_window_extent(renderer)) for t in visible_texts(fig)]
    boxes = [(t, b) for t, b in boxes if b.width > 0 and b.height > 0]
    return [
        (a.get_text(), b.get_text())
        for (a, box_a), (b, box_b) in combinations(boxes, 2)
        if min(box_a.x1, box_b.x1) - max(box_a.x0, box_b.x0) > -2
        and min(box_a.y1, box_b.y1) - max(box_a.y0, box_b.y0) > -2
    ]


def test_profile_grid_texts_do_not_overlap_and_read_on_their_background(panel_files):
    files, _ = panel_files
    rows = ["success\nβ=1, lr=1", "transition\nβ=30, lr=0.01", "failure\nβ=70, lr=0.01"]
    fig = grid_of(
        files, columns=2, row_labels=rows, column_labels=["seed 0", "seed 1"], title="PINN profiles"
    )
    assert overlapping_texts(fig) == []
    assert text_contrasts(fig) == []


@pytest.mark.parametrize("columns", [1, 2])
def test_profile_grids_are_wider_than_tall(panel_files, tmp_path, columns):
    from matplotlib.image import imread

    from losstopo.plots.common import save_figure

    files, _ = panel_files
    fig = grid_of(files[: 3 * columns], columns=columns, title="t", row_labels=["a", "b", "c"])
    out = tmp_path / "grid.png"
    save_figure(fig, [out], dpi=60)
    height, width = imread(out).shape[:2]
    assert width > height


def test_profiles_cli_with_topology_files_labels_and_axis_options(panel_files, tmp_path, capsys):
    from losstopo.cli import main

    files, _ = panel_files
    out = tmp_path / "p.png"
    argv = [
        "figure",
        "profiles",
        *map(str, files[:2]),
        "--columns",
        "2",
        "--row-labels",
        "success\\nβ=1, lr=1",
        "--column-labels",
        "seed 0",
        "seed 1",
        "--y",
        "relative",
        "--colour",
        "absolute",
        "--out",
        str(out),
    ]
    assert main(argv) == 0 and out.stat().st_size > 10_000
    assert main([*argv[:-2], "--linear", "--out", str(out)]) == 2
    assert "--linear contradicts --y relative" in capsys.readouterr().err
    assert main([*argv[:6], "--row-labels", "a", "b", "--out", str(out)]) == 2
    assert "2 row label(s) for 1 row(s)" in capsys.readouterr().err


# --- topology against performance -----------------------------------------------------------


def topology_table(rng=None) -> pd.DataFrame:
    rng = rng or np.random.default_rng(0)
    rows = []
    cells = [(1.0, 1.0, "success"), (30.0, 0.01, "transition"), (70.0, 0.01, "failure")]
    for i, (beta, lr, regime) in enumerate(cells):
        for seed in (0, 1):
            for dims in (3, 4):
                for connectivity in ("full", "knn"):
                    rows.append(
                        {
                            "run": f"beta{beta:g}_lr{lr:g}_seed{seed}",
                            "beta": beta,
                            "lr": lr,
                            "seed": seed,
                            "dims": dims,
                            "connectivity": connectivity,
                            "regime": regime,
                            "relative_l2_error": 10.0 ** (i - 2) * (1 + seed),
                            "basin_depth_decades": 3.0 - i + 0.1 * seed,
                            "basin_fraction": 10.0 ** -(i + rng.random()),
                            "n_minima_above_log": 1 + i + (connectivity == "knn"),
                            "n_saddles_above_log": 0,
                            "n_minima_raw": 5 + i,
                            "n_saddles_raw": 4 + i,
                            "log_threshold_decades": 0.1,
                        }
                    )
    return pd.DataFrame(rows)


def test_topology_vs_error_is_a_2x2_grid_of_one_connectivity():
    from losstopo.plots.topology_vs_metric import topology_vs_error

    table = topology_table()
    fig = topology_vs_error(table)
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert len(axes) == 4
    positions = {(round(ax.get_position().x0, 3), round(ax.get_position().y0, 3)) for ax in axes}
    assert len({x for x, _ in positions}) == 2 and len({y for _, y in positions}) == 2
    assert "full connectivity" in fig.get_suptitle()
    full = table[table.connectivity == "full"]
    depth, fraction, minima, saddles = axes
    for ax, column in (
        (depth, "basin_depth_decades"),
        (fraction, "basin_fraction"),
        (minima, "n_minima_above_log"),
    ):
        points = np.concatenate([c.get_offsets() for c in ax.collections])
        assert len(points) == len(full)
        assert sorted(points[:, 1]) == pytest.approx(sorted(full[column]))
        rho = full[["relative_l2_error", column]].corr(method="spearman").iloc[0, 1]
        assert f"Spearman ρ = {rho:.2f}" in ax.get_title()
        assert ax.get_xscale() == "log"
    assert fraction.get_yscale() == "log" and depth.get_yscale() == "linear"
    # a constant column is said in words, not drawn as a flat row of points
    assert len(saddles.collections) == 0
    (words,) = [t for t in saddles.texts if t.get_gid() == "constant-panel"]
    assert words.get_text() == f"all {len(full)} landscapes: n_saddles_above_log = 0"
    assert words.get_position() == (0.5, 0.5) and words.get_ha() == "center"
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "β=1, lr=1 (success)" in legend and "β=70, lr=0.01 (failure)" in legend
    assert "3-D" in legend and "4-D" in legend
    knn = topology_vs_error(table, connectivity="knn")
    assert "knn connectivity" in knn.get_suptitle()
    points = np.concatenate([c.get_offsets() for c in knn.axes[2].collections])
    assert sorted(points[:, 1]) == sorted(table[table.connectivity == "knn"].n_minima_above_log)
    assert overlapping_texts(fig) == [] and text_contrasts(fig) == []
    with pytest.raises(LosstopoError, match="connectivity 'axis' is not in the table"):
        topology_vs_error(table, connectivity="axis")
    with pytest.raises(LosstopoError, match="lacks column"):
        topology_vs_error(table.drop(columns="basin_fraction"))


def test_topology_vs_accuracy_is_a_2x2_grid():
    from losstopo.plots.topology_vs_metric import topology_vs_accuracy

    rng = np.random.default_rng(1)
    table = pd.DataFrame(
        {
            "lr": np.repeat([0.01, 0.002], 3),
            "epoch": [0, 3, 10] * 2,
            "seed": 0,
            "connectivity": "full",
            "test_pixel_accuracy": rng.uniform(0.5, 0.9, 6),
            "basin_depth_decades": rng.uniform(0, 2, 6),
            "basin_fraction": rng.uniform(0.01, 1, 6),
            "n_minima_above_log": [1, 2, 3, 1, 2, 2],
            "top_eigenvalue": rng.uniform(1, 100, 6),
            "synthetic_data": True,
        }
    )
    fig = topology_vs_accuracy(table)
    axes = fig.axes
    assert len(axes) == 4 and axes[3].get_yscale() == "log"
    assert "SYNTHETIC" in fig.get_suptitle() and "full connectivity" in fig.get_suptitle()
    assert axes[0].get_xlabel() == "test pixel accuracy"
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend == ["lr=0.01", "lr=0.002", "epoch 0", "epoch 3", "epoch 10"]
    assert overlapping_texts(fig) == []


def model_table() -> pd.DataFrame:
    """A topology table of a user's model: its own fields (epoch) and metric (test_accuracy)."""
    rng = np.random.default_rng(2)
    return pd.DataFrame(
        {
            "problem": "model",
            "run": np.repeat(["spirals", "rings"], 4),
            "epoch": [0, 1, 2, 3] * 2,
            "dims": [2, 2, 3, 3] * 2,
            "connectivity": "full",
            "test_accuracy": rng.uniform(0.4, 0.95, 8),
            "basin_depth_decades": rng.uniform(0, 3, 8),
            "basin_fraction": rng.uniform(0.05, 1, 8),
            "n_minima_above_log": [1, 2, 1, 3, 1, 1, 2, 2],
            "n_saddles_above_log": [0, 1, 0, 2, 0, 0, 1, 1],
            "top_eigenvalue": rng.uniform(1, 50, 8),
        }
    )


def test_topology_vs_metric_draws_any_problem_by_its_own_columns():
    from losstopo.plots.topology_vs_metric import topology_vs_metric

    table = model_table()
    fig = topology_vs_metric(
        table, "test_accuracy", colour_by=("run",), marker_by="epoch", connectivity="full"
    )
    assert (
        fig.get_suptitle()
        == "spirals, rings topology vs test accuracy (8 landscapes, full connectivity)"
    )
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend == ["run=rings", "run=spirals", "epoch 0", "epoch 1", "epoch 2", "epoch 3"]
    depth = fig.axes[0]
    assert depth.get_xlabel() == "test accuracy" and depth.get_xscale() == "linear"
    # every point is one row: x the metric, y the descriptor, colour its run, marker its epoch
    drawn = []
    for collection in depth.collections:
        colour = tuple(np.round(collection.get_facecolor()[0], 3))
        drawn += [(x, y, colour) for x, y in collection.get_offsets()]
    expected = sorted(zip(table.test_accuracy, table.basin_depth_decades, strict=True))
    np.testing.assert_allclose(sorted((x, y) for x, y, _ in drawn), expected)
    colours = {c for _, _, c in drawn}
    assert len(colours) == 2
    by_run = {
        run: {c for x, _, c in drawn if np.isclose(table.test_accuracy[table.run == run], x).any()}
        for run in ("rings", "spirals")
    }
    assert by_run["rings"] != by_run["spirals"] and all(len(c) == 1 for c in by_run.values())
    eigen = topology_vs_metric(
        table,
        "test_accuracy",
        colour_by=("run", "dims"),
        panels=("basin_depth_decades", "basin_fraction", "n_minima_above_log", "top_eigenvalue"),
    )
    assert eigen.axes[3].get_yscale() == "log"
    assert eigen.get_suptitle().startswith("spirals, rings curvature and topology vs test accuracy")
    assert "run=rings, 2-D" in [t.get_text() for t in eigen.legends[0].get_texts()]
    with pytest.raises(LosstopoError, match="unknown panel"):
        topology_vs_metric(table, "test_accuracy", panels=("a", "b", "c", "d"))
    with pytest.raises(LosstopoError, match=r"lacks column.*relative_l2_error"):
        topology_vs_metric(table, "relative_l2_error", colour_by=("run",))


def test_negative_mass_panel_draws_its_bounds_as_error_bars():
    """Each row's error bar spans exactly [esd_negative_mass_lower, _upper] at its metric."""
    from matplotlib.collections import LineCollection

    from losstopo.plots.topology_vs_metric import topology_vs_metric

    table = model_table()
    rng = np.random.default_rng(5)
    table["esd_negative_mass"] = rng.uniform(0.2, 0.6, 8)
    table["esd_negative_mass_lower"] = table.esd_negative_mass - rng.uniform(0, 0.2, 8)
    table["esd_negative_mass_upper"] = table.esd_negative_mass + rng.uniform(0, 0.3, 8)
    panels = ("basin_depth_decades", "basin_fraction", "top_eigenvalue", "esd_negative_mass")
    fig = topology_vs_metric(table, "test_accuracy", colour_by=("run",), panels=panels)
    bars = [
        c
        for c in fig.axes[3].collections
        if isinstance(c, LineCollection) and c.get_gid() == "bounds-esd_negative_mass"
    ]
    segments = sorted(
        (float(seg[0, 0]), float(seg[:, 1].min()), float(seg[:, 1].max()))
        for bar in bars
        for seg in bar.get_segments()
    )
    expected = sorted(
        zip(
            table.test_accuracy,
            table.esd_negative_mass_lower,
            table.esd_negative_mass_upper,
            strict=True,
        )
    )
    np.testing.assert_allclose(segments, expected)
    assert not any(c.get_gid() == "bounds-top_eigenvalue" for c in fig.axes[2].collections)


def test_topology_vs_metric_cli(tmp_path, capsys):
    from losstopo.cli import main

    csv = tmp_path / "models.csv"
    model_table().to_csv(csv, index=False)
    out = tmp_path / "m.png"
    argv = ["figure", "topology-vs-metric", str(csv), "--metric", "test_accuracy"]
    assert main([*argv, "--marker-by", "epoch", "--out", str(out)]) == 0
    assert out.stat().st_size > 0
    assert main([*argv, "--colour-by", "beta", "--out", str(out)]) == 2
    assert "lacks column(s) beta" in capsys.readouterr().err


def test_topology_vs_error_cli_takes_a_connectivity(tmp_path, capsys):
    from losstopo.cli import main

    csv = tmp_path / "topology_summary.csv"
    topology_table().to_csv(csv, index=False)
    out = tmp_path / "t.png"
    assert (
        main(["figure", "topology-vs-error", str(csv), "--connectivity", "knn", "--out", str(out)])
        == 0
    )
    assert out.stat().st_size > 10_000
    assert (
        main(["figure", "topology-vs-error", str(csv), "--connectivity", "axis", "--out", str(out)])
        == 2
    )
    assert "is not in the table" in capsys.readouterr().err


# --- the landscape-extent study -------------------------------------------------------------


def extent_table() -> pd.DataFrame:
    rows = []
    for beta, lr, regime in ((1.0, 1.0, "success"), (70.0, 0.01, "failure")):
        for seed in (0, 1, 2):
            for distance in (0.01, 0.1, 1.0):
                for connectivity in ("full", "knn"):
                    rows.append(
                        {
                            "run": f"beta{beta:g}_lr{lr:g}_seed{seed}",
                            "beta": beta,
                            "lr": lr,
                            "seed": seed,
                            "regime": regime,
                            "distance": distance,
                            "connectivity": connectivity,
                            "dims": 3,
                            "basin_depth_decades": np.log10(distance * 100) + seed * 0.1,
                            "basin_fraction": min(1.0, distance * (1 + seed) / beta),
                            "n_minima_above_log": 1 + seed + (connectivity == "knn"),
                            "n_saddles_above_log": seed,
                            "n_minima_raw": 3 + seed,
                            "center_loss": 1e-3 * beta,
                            "loss_median": 1e-3 * beta * (1 + 100 * distance),
                        }
                    )
    return pd.DataFrame(rows)


def test_extent_study_rows_are_connectivities_and_lines_are_seed_means():
    from losstopo.plots.extent import extent_study

    table = extent_table()
    fig = extent_study(table)
    axes = np.array([ax for ax in fig.axes]).reshape(2, 4)
    width, height = fig.get_size_inches()
    assert width > height
    for row, graph in enumerate(("full", "knn")):
        part = table[table.connectivity == graph]
        for col, column in enumerate(
            ["basin_fraction", "basin_depth_decades", "n_minima_above_log"]
        ):
            ax = axes[row, col]
            assert graph in ax.get_title() and ax.get_xscale() == "log"
            points = np.concatenate([c.get_offsets() for c in ax.collections])
            assert len(points) == len(part)  # each seed a point
            lines = [ln for ln in ax.get_lines() if ln.get_gid() != "criterion"]
            assert len(lines) == 2  # one seed mean per (β, lr) cell
            cell = part[part.beta == 1.0]
            if column == "basin_fraction":  # geometric mean of the seeds (spans decades)
                mean = 10.0 ** np.log10(cell[column]).groupby(cell.distance).mean()
            else:
                mean = cell.groupby("distance")[column].mean()
            ours = next(ln for ln in lines if np.allclose(ln.get_ydata(), mean.values))
            np.testing.assert_allclose(ours.get_xdata(), mean.index)
        # median loss over loss at θ, in decades
        ax = axes[row, 3]
        expected = np.log10(part.loss_median / part.center_loss)
        points = np.concatenate([c.get_offsets() for c in ax.collections])
        assert sorted(points[:, 1]) == pytest.approx(sorted(expected))
        # the 1 % basin criterion on the basin fraction panels
        (criterion,) = [ln for ln in axes[row, 0].get_lines() if ln.get_gid() == "criterion"]
        assert list(criterion.get_ydata()) == [0.01, 0.01] and criterion.get_linestyle() == "--"
        assert axes[row, 0].get_yscale() == "log"
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "β=1, lr=1 (success)" in legend and "1 % basin criterion" in legend
    assert overlapping_texts(fig) == [] and text_contrasts(fig) == []
    with pytest.raises(LosstopoError, match="lacks column"):
        extent_study(table.drop(columns="loss_median"))


def test_extent_study_cli_writes_png_and_pdf(tmp_path):
    from losstopo.cli import main

    csv = tmp_path / "extent_study.csv"
    extent_table().drop(columns="regime").query("connectivity == 'full'").to_csv(csv, index=False)
    png, pdf = tmp_path / "a.png", tmp_path / "a.pdf"
    assert main(["figure", "extent-study", str(csv), "--out", str(png), str(pdf)]) == 0
    assert pdf.read_bytes().startswith(b"%PDF") and png.stat().st_size > 10_000


# --- heat maps ------------------------------------------------------------------------------


def error_grid() -> pd.DataFrame:
    grid = pd.DataFrame(
        [[0.01, 0.02, 0.9, 1.1], [0.3, 0.5, 0.8, np.nan], [0.001, 0.004, 0.7, 1.0]],
        index=[1.0, 0.01, 0.0001],
        columns=[1, 5, 30, 70],
    )
    grid.index.name, grid.columns.name = "lr", "beta"
    return grid


def cell_annotations(ax):
    return [t for t in ax.texts if t.get_gid() == "cell-annotation"]


def check_text_follows_fill(ax, values: np.ndarray):
    """Each cell's annotation is white on a dark fill and black on a light one."""
    mesh = ax.collections[0]
    texts = cell_annotations(ax)
    assert len(texts) == values.size
    for text in texts:
        column, row = (int(v - 0.5) for v in text.get_position())
        value = values[row, column]
        fill = mesh.to_rgba(value) if np.isfinite(value) else (0.8, 0.8, 0.8, 1.0)
        expected = "white" if relative_luminance(fill[:3]) < 0.408 else "black"
        assert text.get_color() == expected, (text.get_text(), fill)


def test_error_heatmap_outlines_the_analysed_cells_and_contrasts_its_text():
    from losstopo.plots.heatmap import error_heatmap

    grid = error_grid()
    fig = error_heatmap(grid, 2, highlight=[(1, 1.0), (70, 0.0001)])
    ax = fig.axes[0]
    rectangles = [p for p in ax.patches if p.get_gid() == "highlight"]
    assert [(r.get_x(), r.get_y(), r.get_width(), r.get_height()) for r in rectangles] == [
        (0, 0, 1, 1),
        (3, 2, 1, 1),
    ]
    assert all(not r.get_fill() and r.get_linewidth() >= 2 for r in rectangles)
    check_text_follows_fill(ax, grid.to_numpy())
    colours = {t.get_color() for t in cell_annotations(ax)}
    assert colours == {"white", "black"}  # viridis spans dark and light fills
    assert "div" in [t.get_text() for t in cell_annotations(ax)]
    assert text_contrasts(fig) == [] and overlapping_texts(fig) == []
    with pytest.raises(LosstopoError, match="highlighted β=3 is not in the grid"):
        error_heatmap(grid, 2, highlight=[(3, 1.0)])


def test_accuracy_heatmap_cells_and_colour_bar_share_the_percent_unit():
    from losstopo.plots.heatmap import accuracy_heatmap

    grid = pd.DataFrame(
        [[0.40, 0.71, 0.85], [0.41, 0.62, 0.79]], index=[0.01, 0.002], columns=[0, 3, 10]
    )
    fig = accuracy_heatmap(grid, 2, synthetic=True)
    ax = fig.axes[0]
    bar = ax.collections[0].colorbar
    assert "%" in bar.ax.get_ylabel()
    assert bar.vmin == pytest.approx(40.0) and bar.vmax == pytest.approx(85.0)
    ticks = [t for t in bar.get_ticks() if bar.vmin <= t <= bar.vmax]
    assert ticks and all(1 < t <= 100 for t in ticks)
    annotated = sorted(float(t.get_text()) for t in cell_annotations(ax))
    assert annotated == sorted(np.round(100 * grid.to_numpy().ravel()))
    assert all(bar.vmin - 0.5 <= v <= bar.vmax + 0.5 for v in annotated)
    check_text_follows_fill(ax, 100 * grid.to_numpy())
    assert text_contrasts(fig) == [] and overlapping_texts(fig) == []


def test_pinn_heatmap_cli_highlight(tmp_path, capsys):
    from losstopo.cli import main

    table = pd.DataFrame(
        {
            "beta": [1, 1, 30, 30],
            "lr": [1.0, 0.01, 1.0, 0.01],
            "seed": 0,
            "relative_l2_error": [0.01, 0.3, 0.9, 0.8],
        }
    )
    csv = tmp_path / "pinn_errors.csv"
    table.to_csv(csv, index=False)
    out = tmp_path / "h.png"
    argv = ["figure", "pinn-heatmap", str(csv), "--highlight", "1:1", "30:0.01"]
    assert main([*argv, "--out", str(out)]) == 0 and out.stat().st_size > 10_000
    assert main([*argv[:4], "7:1", "--out", str(out)]) == 2
    assert "highlighted β=7 is not in the grid" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([*argv[:4], "oops", "--out", str(out)])
    assert "expected BETA:LR" in capsys.readouterr().err


def test_topology_vs_accuracy_cli_takes_a_connectivity(tmp_path, capsys):
    from losstopo.cli import main

    table = pd.DataFrame(
        {
            "lr": [0.01, 0.01, 0.002, 0.002] * 2,
            "epoch": [0, 3, 0, 3] * 2,
            "connectivity": ["full"] * 4 + ["knn"] * 4,
            "test_pixel_accuracy": [0.5, 0.8, 0.55, 0.7] * 2,
            "basin_depth_decades": [0.5, 1.0, 0.7, 0.9, 0.4, 1.1, 0.6, 1.0],
            "basin_fraction": [0.2, 0.5, 0.3, 0.4, 0.1, 0.6, 0.2, 0.5],
            "n_minima_above_log": [1, 2, 1, 3, 2, 2, 1, 4],
            "top_eigenvalue": [5.0, 50.0, 3.0, 20.0] * 2,
        }
    )
    csv = tmp_path / "unet_topology_summary.csv"
    table.to_csv(csv, index=False)
    out = tmp_path / "u.png"
    argv = ["figure", "topology-vs-accuracy", str(csv)]
    assert main([*argv, "--connectivity", "knn", "--out", str(out)]) == 0
    assert main([*argv, "--connectivity", "axis", "--out", str(out)]) == 2
    assert "connectivity 'axis' is not in the table" in capsys.readouterr().err


def test_empty_regimes_leave_the_cell_label_plain():
    from losstopo.plots.topology_vs_metric import topology_vs_error

    table = topology_table().assign(regime="")
    fig = topology_vs_error(table)
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "β=1, lr=1" in legend


def test_figure_modules_do_not_import_torch():
    import subprocess
    import sys

    code = (
        "import sys, losstopo.plots.profile_grid, losstopo.plots.topology_vs_metric, "
        "losstopo.plots.extent, losstopo.plots.heatmap, losstopo.cli.figures; "
        "print('torch' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "False", result.stderr
