"""The workflow's config checks as plain Python (no Snakemake): each fault in one line named
by its key, before any job."""

from __future__ import annotations

from pathlib import Path

import pytest

from losstopo.workflow.config_file import check_config_file, check_schema, config_key

REPO = Path(__file__).resolve().parents[1]
SCHEMA = str(REPO / "config.schema.yaml")


def test_config_keys_read_as_yaml_paths():
    assert config_key(["pinn", "betas", 1]) == "config.pinn.betas[1]"
    assert config_key([]) == "config"


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"pinn": {"iterations": 10.0}}, "config.pinn.iterations: 10.0 must be an integer"),
        ({"landscape": {"distance": float("nan")}}, "config.landscape.distance: nan is not a"),
        ({"pinn": {"learning_rates": [1.0, float("inf")]}}, "config.pinn.learning_rates[1]: inf"),
        ({"pinn": {"optimizer": "sgd"}}, "config.pinn.optimizer: 'sgd' is not one of"),
        ({"landscape": {"grids": [{"dims": 2}]}}, "config.landscape.grids[0]: 'resolution' is"),
        ({"extra": 1}, "config: Additional properties are not allowed ('extra' was unexpected)"),
    ],
)
def test_schema_faults_are_one_line_named_by_key(config, message):
    with pytest.raises(ValueError) as raised:
        check_schema(config, SCHEMA)
    assert message in str(raised.value) and "\n" not in str(raised.value)


def test_the_shipped_configs_pass_the_schema():
    import yaml

    for name in ("config.yaml", "configs/smoke.yaml", "configs/paper.yaml"):
        check_schema(yaml.safe_load((REPO / name).read_text()), SCHEMA)
        check_config_file(str(REPO / name))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"a: 1\n# caf\xe9\n", "line 2: byte 0xe9 is not UTF-8 text"),
        (b"a: [1\n", "line 2: not valid YAML"),
        (b"- 1\n", "must be YAML with keys at the top level"),
    ],
)
def test_a_config_file_that_is_not_utf8_yaml_is_named_with_its_line(tmp_path, data, message):
    path = tmp_path / "config.yaml"
    path.write_bytes(data)
    with pytest.raises(ValueError, match=message):
        check_config_file(str(path))
    check_config_file(str(tmp_path / "absent.yaml"))  # left to Snakemake (--configfile)
