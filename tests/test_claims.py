"""Claims decided from topology tables: the verdict rule on made-up tables (a clear effect, no
effect, too few seeds), its statistics against independent formulas (scipy's Spearman, the
recursive partial-correlation formula), the four paper claims on constructed tables, the
CLI, the figure's content and the README's generated section."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from losstopo.claims import verdict
from losstopo.claims.markdown import claims_markdown, generated_section
from losstopo.claims.paper import paper_claims
from losstopo.cli import main

REPO = Path(__file__).resolve().parents[1]
RNG = np.random.default_rng(7)


# --- the verdict rule --------------------------------------------------------------------


def test_a_clear_effect_holds():
    failure, success = [9, 10, 11, 10, 12], [2, 1, 3, 2, 2]
    decision = verdict.mean_difference(failure, success, margin=1.0)
    assert decision.verdict == verdict.HOLDS
    assert decision.effect == pytest.approx(8.4)
    assert 0 < decision.ci_low < 8.4 < decision.ci_high
    pooled = math.sqrt((np.var(failure, ddof=1) + np.var(success, ddof=1)) / 2)
    assert decision.effect_size == pytest.approx(8.4 / pooled * (1 - 3 / (4 * 8 - 1)))


def test_no_effect_fails():
    same = [3.0, 3.1, 2.9, 3.0, 3.0]
    decision = verdict.mean_difference(same, list(reversed(same)), margin=1.0)
    assert decision.verdict == verdict.FAILS and "inside the negligible margin" in decision.reason
    assert decision.effect == pytest.approx(0.0) and -1 < decision.ci_low <= decision.ci_high < 1


def test_the_opposite_effect_fails():
    decision = verdict.mean_difference([1, 2, 1, 2, 1], [8, 9, 8, 9, 8], margin=1.0)
    assert decision.verdict == verdict.FAILS and decision.ci_high < 0


def test_too_few_seeds_are_undetermined_whatever_the_effect():
    decision = verdict.mean_difference([10, 11], [1, 2], margin=1.0)
    assert decision.verdict == verdict.UNDETERMINED and "fewer than 3 seeds" in decision.reason
    assert decision.effect == pytest.approx(9.0)


def test_a_wide_interval_is_undetermined():
    decision = verdict.mean_difference([0, 9, 1, 8, 2], [4, 5, 3, 6, 4], margin=1.0)
    assert decision.verdict == verdict.UNDETERMINED and decision.ci_low < 0 < decision.ci_high


def test_a_significant_but_negligible_effect_does_not_hold():
    decision = verdict.mean_difference([1.3, 1.31, 1.29, 1.3], [1.0, 1.01, 0.99, 1.0], margin=1.0)
    assert decision.ci_low > 0 and decision.verdict == verdict.FAILS  # inside ±1


@settings(max_examples=30, deadline=None)
@given(
    a=st.lists(st.integers(0, 50), min_size=3, max_size=7),
    b=st.lists(st.integers(0, 50), min_size=3, max_size=7),
    shift=st.integers(-20, 20),
)
def test_shifting_one_group_shifts_the_effect_and_its_interval(a, b, shift):
    """Translation equivariance: the same resamples, every difference moved by the shift."""
    base = verdict.mean_difference(a, b, margin=1.0)
    moved = verdict.mean_difference([x + shift for x in a], b, margin=1.0)
    assert moved.effect == pytest.approx(base.effect + shift, abs=1e-9)
    assert moved.ci_low == pytest.approx(base.ci_low + shift, abs=1e-9)
    assert moved.ci_high == pytest.approx(base.ci_high + shift, abs=1e-9)
    assert base.ci_low <= base.effect + 1e-9 or base.ci_high >= base.effect - 1e-9


def test_paired_differences_resample_within_strata():
    differences = [2.0, 3.0, 2.0, 4.0, 3.0, 2.0, 3.0, 2.0, 3.0]
    strata = ["a"] * 3 + ["b"] * 3 + ["c"] * 3
    decision = verdict.paired_difference(differences, strata, margin=1.0)
    assert decision.effect == pytest.approx(np.mean(differences))
    assert decision.verdict == verdict.HOLDS
    assert decision.effect_size == pytest.approx(np.mean(differences) / np.std(differences, ddof=1))
    few = verdict.paired_difference(differences[:5], strata[:5], margin=1.0)
    assert few.verdict == verdict.UNDETERMINED  # stratum b has 2 runs


def test_spread_excess_is_the_transition_sd_above_the_widest_other_cell():
    transition, success, failure = [0, 6, 1, 7, 3], [2, 2, 3, 2, 2], [5, 6, 5, 5, 6]
    decision = verdict.spread_excess(transition, [success, failure], margin=1.0)
    widest = max(np.std(success, ddof=1), np.std(failure, ddof=1))
    assert decision.effect == pytest.approx(np.std(transition, ddof=1) - widest)
    assert decision.effect_size == pytest.approx(math.log10(np.std(transition, ddof=1) / widest))
    assert decision.verdict == verdict.HOLDS
    flat = verdict.spread_excess(success, [success, success], margin=1.0)
    assert flat.verdict == verdict.FAILS and flat.effect == 0


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**31 - 1))
def test_spearman_and_partial_spearman_against_scipy_and_the_recursive_formula(seed):
    rng = np.random.default_rng(seed)
    z = rng.normal(size=12)
    x = z + rng.normal(size=12)
    y = np.round(2 * z + rng.normal(size=12), 1)  # ties
    rho = lambda a, b: stats.spearmanr(a, b).statistic  # noqa: E731
    assert verdict.partial_spearman(x, y, None) == pytest.approx(rho(x, y), abs=1e-12)
    rxy, rxz, ryz = rho(x, y), rho(x, z), rho(y, z)
    expected = (rxy - rxz * ryz) / math.sqrt((1 - rxz**2) * (1 - ryz**2))
    assert verdict.partial_spearman(x, y, z) == pytest.approx(expected, abs=1e-10)


def test_a_correlation_that_is_the_confounder_in_disguise_does_not_hold():
    """x is a monotone function of z and y depends on z only: the raw correlation is strong,
    the partial one given z is not."""
    z = np.linspace(-4, 0, 15)
    x = 10.0**z
    y = z + RNG.normal(scale=0.01, size=15)
    strata = np.repeat(["success", "transition", "failure"], 5)
    raw = verdict.correlation(x, y, None, strata, margin=0.2)
    partial = verdict.correlation(x, y, z, strata, margin=0.2)
    assert raw.verdict == verdict.HOLDS and raw.effect > 0.9
    assert partial.verdict == verdict.UNDETERMINED and math.isnan(partial.effect)
    assert partial.reason == "no variation left given the control"  # x ranks as z does
    # with independent noise in x and y given z, the partial correlation is near 0
    noisy_x, noisy_y = 10.0 ** (z + RNG.normal(scale=0.5, size=15)), z + RNG.normal(size=15)
    noisy = verdict.correlation(noisy_x, noisy_y, z, strata, margin=0.2)
    assert noisy.verdict != verdict.HOLDS and abs(noisy.effect) < 0.6


# --- the paper's claims on constructed tables -------------------------------------------

REGIMES = {
    "success": (1.0, 1e-4, 0.01),
    "transition": (6.0, 1e-2, 0.4),
    "failure": (70.0, 0.4, 2.0),
}


def _summary(seeds: int, saddles: dict[str, float], resolution_3d: int = 13) -> pd.DataFrame:
    """A topology summary: 3-D and 4-D grids (full, knn) for each regime and seed."""
    rows = []
    for regime, (beta, center, error) in REGIMES.items():
        for seed in range(seeds):
            for dims, resolution in ((3, resolution_3d), (4, 13)):
                for connectivity in ("full", "knn"):
                    n = saddles[regime] + (seed % 2) + (dims == 4) * 3
                    rows.append(
                        dict(
                            regime=regime, run=f"b{beta}_s{seed}", seed=seed, dims=dims,
                            connectivity=connectivity, distance=0.1, resolution=resolution,
                            relative_l2_error=error * (1 + 0.1 * seed), center_loss=center,
                            n_saddles_raw=n, n_saddles_above_log=n,
                            excess_n_saddles_above_log=n - 1, n_minima_raw=n + 1,
                            excess_n_minima_above_log=n, n_minima_above_log=n,
                            basin_depth_decades=3.0 + 0.1 * seed,
                            fraction_within_decade=0.1,
                        )
                    )  # fmt: skip
    return pd.DataFrame(rows)


def _extent(summary: pd.DataFrame) -> pd.DataFrame:
    three = summary[(summary["dims"] == 3)].copy()
    return pd.concat([three.assign(distance=d) for d in (0.003, 0.1)], ignore_index=True)


def test_more_saddles_near_failure_holds_with_five_seeds_and_not_with_two():
    summary = _summary(5, {"success": 1, "transition": 3, "failure": 6})
    claims = paper_claims(summary, _extent(summary))
    saddles = claims[claims["claim"] == "more saddles near failure"]
    assert len(saddles) == 2 * 2 * 3  # dims x connectivity x statistic
    assert set(saddles["verdict"]) == {verdict.HOLDS}
    assert np.allclose(saddles["effect"], 5.0)
    two = _summary(2, {"success": 1, "transition": 3, "failure": 6})
    assert set(paper_claims(two, _extent(two))["verdict"]) == {verdict.UNDETERMINED}


def test_equal_saddles_fail_and_constant_spreads_fail():
    summary = _summary(5, {"success": 4, "transition": 4, "failure": 4})
    claims = paper_claims(summary, _extent(summary))
    saddles = claims[claims["claim"] == "more saddles near failure"]
    assert set(saddles["verdict"]) == {verdict.FAILS} and np.allclose(saddles["effect"], 0)
    spread = claims[claims["claim"] == "more variation at the transition"]
    assert set(spread["verdict"]) == {verdict.FAILS}


def test_4d_against_3d_is_decided_only_at_equal_resolution():
    matched = _summary(5, {"success": 1, "transition": 3, "failure": 6})
    rows = paper_claims(matched, _extent(matched))
    four = rows[rows["claim"] == "more critical points in 4-D"]
    assert len(four) == 4 and np.allclose(four["effect"], 6.0)  # 3 minima + 3 saddles per run
    assert set(four["verdict"]) == {verdict.HOLDS}
    confounded = _summary(5, {"success": 1, "transition": 3, "failure": 6}, resolution_3d=21)
    rows = paper_claims(confounded, _extent(confounded))
    four = rows[rows["claim"] == "more critical points in 4-D"]
    assert set(four["verdict"]) == {verdict.UNDETERMINED}
    assert four["reason"].str.contains("confounded: 3-D has 21 points per axis").all()


def test_funnel_vs_bowl_reports_the_partial_and_the_raw_correlation():
    summary = _summary(5, {"success": 1, "transition": 3, "failure": 6})
    extent = _extent(summary)
    # a descriptor that is the loss at theta in disguise: strong raw, no partial correlation
    extent["fraction_within_decade"] = np.log10(extent["center_loss"]) + 5
    rows = paper_claims(summary, extent)
    funnel = rows[rows["claim"] == "funnel vs bowl"]
    assert list(funnel["distance"].unique()) == [0.003, 0.1]
    within = funnel[funnel["statistic"].str.contains("fraction_within_decade")]
    assert (within["unadjusted"] > 0.8).all()
    assert (within["verdict"] != verdict.HOLDS).all()


def test_tables_without_the_identifying_columns_are_refused():
    with pytest.raises(ValueError, match="has no column"):
        paper_claims(pd.DataFrame({"regime": []}), pd.DataFrame({"regime": []}))


# --- CLI, figure, README ----------------------------------------------------------------


@pytest.fixture
def tables(tmp_path) -> tuple[Path, Path]:
    summary = _summary(5, {"success": 1, "transition": 3, "failure": 6})
    paths = tmp_path / "topology_summary.csv", tmp_path / "extent_study.csv"
    summary.to_csv(paths[0], index=False)
    _extent(summary).to_csv(paths[1], index=False)
    return paths


def test_the_cli_writes_the_table_and_its_markdown(tables, tmp_path):
    out, markdown = tmp_path / "claims.csv", tmp_path / "claims.md"
    argv = ["claims", str(tables[0]), "--extent", str(tables[1]), "--out", str(out)]
    assert main([*argv, "--markdown", str(markdown)]) == 0
    claims = pd.read_csv(out)
    expected = paper_claims(pd.read_csv(tables[0]), pd.read_csv(tables[1]))
    assert list(claims["verdict"]) == list(expected["verdict"])
    assert np.allclose(claims["effect"], expected["effect"], equal_nan=True)
    assert markdown.read_text().strip() == claims_markdown(claims).strip()
    assert claims_markdown(expected) == claims_markdown(claims)  # the same text read back
    assert main([*argv[:-1], str(out)]) == 0  # the same seed gives the same table
    assert pd.read_csv(out).equals(claims)


def test_the_cli_names_a_table_without_regimes(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"run": ["a"], "dims": [3]}).to_csv(bad, index=False)
    assert main(["claims", str(bad), "--extent", str(bad), "--out", str(tmp_path / "c.csv")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "has no column(s) connectivity, distance, regime" in err[0]


def test_the_forest_plot_draws_each_row_in_its_verdict_colour(tables, tmp_path):
    import matplotlib.colors as mcolors

    from losstopo.plots.claims import VERDICT_COLOURS, claims_forest

    claims = paper_claims(pd.read_csv(tables[0]), pd.read_csv(tables[1]))
    figure = claims_forest(claims)
    lines = {line.get_gid(): line for line in figure.axes[0].get_lines() if line.get_gid()}
    finite = claims[np.isfinite(claims[["effect", "ci_low", "ci_high"]]).all(axis=1)]
    assert sum(gid.startswith("interval:") for gid in lines) == len(finite)
    for index, (_, row) in enumerate(claims.iterrows()):
        gid = f"interval:{index}"
        if gid not in lines:
            continue
        line = lines[gid]
        assert mcolors.same_color(line.get_color(), VERDICT_COLOURS[row["verdict"]])
        low, high = np.clip([row["ci_low"] / row["margin"], row["ci_high"] / row["margin"]], -8, 8)
        assert np.allclose(line.get_xdata(), [low, high])


def test_the_readme_claims_section_is_the_committed_default_study():
    """The README's section is generated from the committed claims table of the default
    study, which is what `losstopo claims` gives on its committed topology tables."""
    study = REPO / "report/default_study"
    summary = pd.read_csv(study / "topology_summary.csv")
    extent = pd.read_csv(study / "extent_study.csv")
    committed = pd.read_csv(study / "claims.csv")
    recomputed = paper_claims(summary, extent)
    assert list(committed["verdict"]) == list(recomputed["verdict"])
    numbers = ["effect", "ci_low", "ci_high", "effect_size", "unadjusted"]
    assert np.allclose(committed[numbers], recomputed[numbers], rtol=1e-8, equal_nan=True)
    readme = (REPO / "README.md").read_text()
    assert generated_section(readme) == claims_markdown(committed)
