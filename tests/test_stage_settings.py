"""The settings records of the analysis stages: defaults, validation (one line naming the
option), the command line generated from them (old and new spellings alike), and their
agreement with the workflow's config schema and the library's own lists of choices."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from losstopo.cli import build_parser, main
from losstopo.settings import (
    CurvatureSettings,
    HessianSettings,
    LandscapeSettings,
    Setting,
    SettingError,
    TopologySettings,
)
from losstopo.settings.cli import settings_from_args
from losstopo.settings.schema import schema_fragment, schema_properties

REPO = Path(__file__).resolve().parents[1]
RECORDS = (HessianSettings, CurvatureSettings, LandscapeSettings, TopologySettings)
# the fewest values each record needs
MINIMAL = {
    HessianSettings: {"top_k": 2},
    CurvatureSettings: {},
    LandscapeSettings: {"dims": 2, "distance": 0.1, "resolution": 5},
    TopologySettings: {},
}
# the fewest arguments each command needs, but its settings
COMMANDS = {
    HessianSettings: ["hessian", "m.pt", "--top-k", "2", "--out", "h.nc"],
    CurvatureSettings: ["curvature", "m.pt", "--out", "c.nc"],
    LandscapeSettings: [
        *("landscape", "m.pt", "--directions", "h.nc", "--out", "l.nc"),
        *("--dims", "2", "--distance", "0.1", "--resolution", "5"),
    ],
    TopologySettings: ["topology", "l.nc", "--out", "t.nc"],
}
EVERY_SETTING = [(record, setting) for record in RECORDS for setting in record.settings()]


def _ids(case) -> str:
    return case.name if isinstance(case, Setting) else getattr(case, "__name__", str(case))


@pytest.mark.parametrize(("record", "setting"), EVERY_SETTING, ids=_ids)
def test_each_setting_not_given_takes_its_default(record, setting):
    settings = record(**MINIMAL[record])
    expected = MINIMAL[record].get(setting.name, setting.default)
    assert getattr(settings, setting.name) == expected
    assert setting.kind in (bool, int, float, str) and setting.help


@pytest.mark.parametrize(
    ("record", "name", "value", "needle"),
    [
        (HessianSettings, "tol", math.nan, "--tol must be a finite number > 0, got nan"),
        (HessianSettings, "tol", math.inf, "--tol must be a finite number > 0"),
        (HessianSettings, "tol", 0.0, "--tol must be a finite number > 0"),
        (HessianSettings, "max_hvp", 0, "--max-hvp must be >= 1, got 0"),
        (HessianSettings, "seed", -1, "--seed must be an integer in [0, 2**63)"),
        (HessianSettings, "seed", 2**63, "--seed must be an integer in [0, 2**63)"),
        (HessianSettings, "top_k", 1.5, "--top-k must be >= 1, got 1.5"),
        (HessianSettings, "top_k", True, "--top-k must be >= 1, got True"),
        (HessianSettings, "method", "arnoldi", "--method must be one of lanczos, power"),
        (CurvatureSettings, "rel_se_target", -0.1, "--rel-se-target must be a finite number"),
        (CurvatureSettings, "trace_max_hvps", 0, "--trace-max-hvps must be >= 1"),
        (CurvatureSettings, "width", math.inf, "--width must be a finite number > 0"),
        (CurvatureSettings, "deflate", "no", "--deflate must be true or false"),
        (LandscapeSettings, "distance", math.nan, "--distance must be a finite number > 0"),
        (LandscapeSettings, "center_scale", 1.0, "--center-scale must be a finite number in"),
        (LandscapeSettings, "memory_budget_mb", "512", "--memory-budget-mb must be a finite"),
        (LandscapeSettings, "sampling", "halton", "--sampling must be one of grid, sobol"),
        (TopologySettings, "summary_threshold", 1.0, "must be a finite number in [0, 1)"),
        (TopologySettings, "log_threshold", math.inf, "--log-threshold must be a finite"),
        (TopologySettings, "knn_metric", "cosine", "--knn-metric must be one of curvature"),
        (TopologySettings, "k", 0, "--k must be >= 1, got 0"),
        (TopologySettings, "symmetrize", "both", "--symmetrize must be one of mutual, union"),
    ],
)
def test_bad_values_are_one_line_naming_the_option(record, name, value, needle):
    with pytest.raises(SettingError) as raised:
        record(**{**MINIMAL[record], name: value})
    message = str(raised.value)
    assert needle in message and "\n" not in message


def _numbers(setting: Setting):
    if setting.kind is int:
        return st.integers(min_value=-(2**64), max_value=2**64)
    return st.floats(allow_nan=True, allow_infinity=True)


NUMERIC = [(record, s) for record, s in EVERY_SETTING if s.kind in (int, float)]


@pytest.mark.parametrize(("record", "setting"), NUMERIC, ids=_ids)
@given(data=st.data())
def test_a_number_is_accepted_exactly_within_its_bounds(record, setting, data):
    value = data.draw(_numbers(setting))
    inside = math.isfinite(value) and all(
        (
            setting.at_least is None or value >= setting.at_least,
            setting.above is None or value > setting.above,
            setting.below is None or value < setting.below,
        )
    )
    values = {**MINIMAL[record], setting.name: value}
    if inside:
        assert getattr(record(**values), setting.name) == value
    else:
        with pytest.raises(SettingError, match=f"^{setting.flag} must be "):
            record(**values)


@pytest.mark.parametrize(
    ("values", "needle"),
    [
        ({"resolution": None}, "--resolution is required for --sampling grid"),
        ({"sampling": "random"}, "--n-points is required for --sampling random"),
        ({"sampling": "sobol", "n_points": 9, "tiles": 2}, "tiles split a grid"),
        ({"dims": None}, "--dims is required"),
    ],
)
def test_the_landscape_settings_must_fit_together(values, needle):
    with pytest.raises(SettingError, match=needle):
        LandscapeSettings(**{**MINIMAL[LandscapeSettings], **values})


def test_a_stage_takes_settings_or_options_but_not_unknown_names():
    settings = TopologySettings(k=5)
    assert TopologySettings.of(None, {"k": 5}) == settings
    assert TopologySettings.of(settings, {}) is settings
    with pytest.raises(SettingError, match="unknown setting kk"):
        TopologySettings.of(None, {"kk": 5})
    with pytest.raises(SettingError, match="not both"):
        TopologySettings.of(settings, {"k": 6})
    with pytest.raises(SettingError, match="--top-k is required"):
        HessianSettings()
    assert dataclasses.replace(settings, k=7).k == 7


@pytest.mark.parametrize("record", RECORDS, ids=_ids)
def test_the_command_line_defaults_are_the_records(record):
    args = build_parser().parse_args(COMMANDS[record])
    assert settings_from_args(record, args) == record(**MINIMAL[record])


@pytest.mark.parametrize(
    ("record", "old", "new"),
    [
        (CurvatureSettings, ["--trace-max-hvp", "30"], ["--trace-max-hvps", "30"]),
        (CurvatureSettings, ["--rel-se", "0.1"], ["--rel-se-target", "0.1"]),
        (CurvatureSettings, ["--no-deflate"], ["--no-deflate"]),
        (LandscapeSettings, ["--memory-budget", "64"], ["--memory-budget-mb", "64"]),
    ],
)
def test_old_and_new_spellings_give_the_same_settings(record, old, new):
    parser = build_parser()
    before = settings_from_args(record, parser.parse_args([*COMMANDS[record], *old]))
    after = settings_from_args(record, parser.parse_args([*COMMANDS[record], *new]))
    assert before == after != record(**MINIMAL[record])


def test_curvature_deflates_unless_told_not_to():
    parser = build_parser()
    for extra, deflate in (([], True), (["--deflate"], True), (["--no-deflate"], False)):
        args = parser.parse_args([*COMMANDS[CurvatureSettings], *extra])
        assert settings_from_args(CurvatureSettings, args).deflate is deflate


@pytest.mark.parametrize("flag", ["--trace-max-hvps", "--trace-max-hvp"])
def test_a_bad_value_under_either_spelling_is_one_line(flag, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([*COMMANDS[CurvatureSettings], flag, "0"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"{flag}: must be >= 1, got 0" in err[0]


def test_help_lists_the_new_spellings_only(capsys):
    with pytest.raises(SystemExit):
        main(["curvature", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--trace-max-hvps" in text and "--rel-se-target" in text
    assert "--trace-max-hvp " not in text and "--rel-se " not in text
    assert "budget of the trace (default: 200)" in text


def _schema_entry(schema: dict, path: str) -> dict:
    """The property at a dotted config path (``[]``: the items of a list)."""
    entry = schema
    for part in path.split("."):
        entry = entry["properties"][part.removesuffix("[]")]
        if part.endswith("[]"):
            entry = entry["items"]
    return entry


def _types(fragment: dict) -> set[str]:
    kind = fragment["type"]
    return set(kind) if isinstance(kind, list) else {kind}


def _lower(fragment: dict) -> tuple[float, bool] | None:
    """The lower bound of a JSON-schema number and whether it is allowed itself."""
    if "minimum" in fragment:
        return fragment["minimum"], True
    if "exclusiveMinimum" in fragment:
        return fragment["exclusiveMinimum"], False
    return None


def _within(config: tuple[float, bool] | None, record: tuple[float, bool] | None) -> bool:
    """Whether every value above the config's lower bound is above the record's."""
    if record is None:
        return True
    if config is None:
        return False
    return config[0] > record[0] or (config[0] == record[0] and (record[1] or not config[1]))


CONFIGURED = [(record, s) for record, s in EVERY_SETTING if s.config]


@pytest.mark.parametrize(("record", "setting"), CONFIGURED, ids=_ids)
def test_each_configured_setting_agrees_with_the_config_schema(record, setting):
    """Same type, choices and default as the config key (a setting the command line
    requires has no default there), and every value the config allows the command line
    accepts too: the schema may be stricter, not laxer."""
    schema = yaml.safe_load((REPO / "config.schema.yaml").read_text())
    entry = _schema_entry(schema, setting.config)
    fragment = schema_fragment(setting)
    assert _types(entry) <= _types(fragment) and _types(fragment) - {"null"} <= _types(entry)
    if "default" in entry and not setting.required:
        assert fragment["default"] == entry["default"]
    if "enum" in entry:
        assert set(entry["enum"]) == set(fragment["enum"]) - {None}
    assert _within(_lower(entry), _lower(fragment))
    if "exclusiveMaximum" in entry or "maximum" in entry:
        highest = entry.get("exclusiveMaximum", entry.get("maximum"))
        assert highest <= fragment.get("exclusiveMaximum", math.inf)
        assert "maximum" not in entry or highest < fragment.get("exclusiveMaximum", math.inf)


def test_a_schema_fragment_states_type_default_and_bounds():
    properties = schema_properties(TopologySettings)
    assert properties["summary_threshold"] == {
        "description": TopologySettings.setting("summary_threshold").help,
        "type": "number",
        "minimum": 0,
        "exclusiveMaximum": 1,
        "default": 0.01,
    }
    assert properties["k"]["type"] == ["integer", "null"] and properties["k"]["default"] is None
    assert properties["symmetrize"]["enum"] == ["mutual", "union", None]
    assert "default" not in schema_properties(LandscapeSettings)["dims"]


def test_the_choices_are_the_librarys():
    from losstopo.hessian.solvers import METHODS, WHICH
    from losstopo.landscape.directions import NORMALIZATIONS
    from losstopo.landscape.scattered import SAMPLINGS
    from losstopo.topology.neighbors import CONNECTIVITIES, SYMMETRIZATIONS
    from losstopo.topology.null_model import KNN_METRICS

    def choices(record, name):
        return record.setting(name).choices

    assert choices(HessianSettings, "method") == METHODS
    assert choices(HessianSettings, "which") == WHICH
    assert choices(LandscapeSettings, "normalization") == NORMALIZATIONS
    assert choices(LandscapeSettings, "sampling") == ("grid", *SAMPLINGS)
    assert choices(TopologySettings, "connectivity") == CONNECTIVITIES
    assert choices(TopologySettings, "symmetrize") == SYMMETRIZATIONS
    assert choices(TopologySettings, "knn_metric") == KNN_METRICS


def test_the_records_load_no_numerical_library():
    import subprocess
    import sys

    code = (
        "import sys\nimport losstopo.settings, losstopo.settings.cli, losstopo.settings.schema\n"
        "print(sorted(m for m in ('numpy', 'torch', 'xarray') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "[]", result.stderr
