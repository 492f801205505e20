"""Run and file names of the workflow: numbers read back exactly, and every name matches the
wildcard constraints the Snakefile declares (so a configured run is always buildable)."""

from __future__ import annotations

import re
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from losstopo.workflow.paths import PINN_RUN, epoch_label, fmt_number, pinn_run, unet_run

REPO = Path(__file__).resolve().parents[1]
NUMBER = st.floats(min_value=1e-12, max_value=1e6, allow_nan=False, allow_infinity=False)


def _constraints() -> dict[str, str]:
    block = (REPO / "Snakefile").read_text().split("wildcard_constraints:")[1].split("\n\n")[0]
    return dict(re.findall(r"^\s+(\w+)=r\"(.+)\",$", block, flags=re.M))


def test_numbers_are_written_as_their_shortest_exact_decimal():
    assert [fmt_number(v) for v in (1, 1.0, 0.01, 0.0001, 1e-05, 70, 2.5)] == [
        "1", "1", "0.01", "0.0001", "1e-05", "70", "2.5",
    ]  # fmt: skip
    assert pinn_run(1, 1.0, 0) == "beta1_lr1_seed0"
    assert unet_run(0.002, 243) == "lr0.002_seed243"
    assert epoch_label(3) == "003" and epoch_label(10) == "010"


@given(beta=NUMBER, lr=NUMBER, seed=st.integers(0, 2**63 - 1))
def test_a_pinn_run_name_reads_back_and_matches_the_rule_wildcards(beta, lr, seed):
    name = pinn_run(beta, lr, seed)
    constraints = _constraints()
    pattern = PINN_RUN.format(
        beta=f"(?P<beta>{constraints['beta']})",
        lr=f"(?P<lr>{constraints['lr']})",
        seed=f"(?P<seed>{constraints['seed']})",
    )
    match = re.fullmatch(pattern, name)
    assert match is not None, name
    assert float(match["beta"]) == beta and float(match["lr"]) == lr
    assert int(match["seed"]) == seed
