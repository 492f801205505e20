"""``losstopo claims``: the paper's claims decided from the workflow's topology tables."""

from __future__ import annotations

import argparse
import logging
from typing import TYPE_CHECKING

from losstopo.cli import common

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

log = logging.getLogger("losstopo")


def _cmd_claims(args: argparse.Namespace) -> None:
    """Decide the paper's PINN claims from the topology tables.

    Each row: a claim, the statistic and landscape it is measured on, its effect with a 95 %
    bootstrap interval over seeds, an effect size and a verdict (holds, fails or undetermined
    by the rule documented in the README). Needs the regimes labelled success, transition and
    failure.
    """
    from losstopo.claims.markdown import claims_markdown
    from losstopo.claims.paper import paper_claims
    from losstopo.errors import LosstopoError
    from losstopo.io.atomic import write_atomic
    from losstopo.io.tables import read_table, write_csv_atomic

    summary = read_table(args.summary, "topology summary")
    extent = read_table(args.extent, "extent study")
    try:
        claims = paper_claims(summary, extent, args.seed)
    except ValueError as exc:
        raise LosstopoError(f"{args.summary} / {args.extent}: {exc}") from None
    write_csv_atomic(claims, args.out)
    if args.markdown:
        write_atomic(args.markdown, lambda tmp: tmp.write_text(claims_markdown(claims) + "\n"))
    counts = claims["verdict"].value_counts().to_dict()
    log.info("wrote %d claim rows to %s (%s)", len(claims), args.out, counts)


def _draw_claims(table: pd.DataFrame, args: argparse.Namespace) -> Figure:
    from losstopo.plots.claims import claims_forest

    return claims_forest(table)


def register(sub: argparse._SubParsersAction, figsub: argparse._SubParsersAction) -> None:
    """Add ``claims`` (and its figure kind) to the parser."""
    p = common.add_command(sub, _cmd_claims)
    p.add_argument("summary", help="topology summary table (topology_summary.csv)")
    p.add_argument("--extent", required=True, help="extent study table (extent_study.csv)")
    common.add_options(p, ("--seed", common.seed, 0, "seed of the bootstrap resamples"))
    p.add_argument("--markdown", default=None, help="also write the claims as Markdown here")
    p.add_argument("--out", required=True, help="output claims.csv")

    p = common.add_table_figure(
        figsub,
        "claims",
        "forest plot of the claims: each effect and interval in units of its negligible margin",
        "a claims table (losstopo claims)",
        _draw_claims,
    )
    common.add_figure_output(p)
