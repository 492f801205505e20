"""The claims table as Markdown: one table per claim, one line per statistic and landscape,
for the README (whose claims section is this text, checked by a test)."""

from __future__ import annotations

import math

import pandas as pd

START = "<!-- claims:start (generated from claims.csv by `losstopo claims --markdown`) -->"
END = "<!-- claims:end -->"


def _number(value: float) -> str:
    """Three significant digits of the value as the CSV table stores it (10 digits), so the
    Markdown of a table and of the same table read back are the same text."""
    if not math.isfinite(value):
        return "–" if math.isnan(value) else ("∞" if value > 0 else "−∞")
    return f"{float(f'{value:.10g}'):.3g}".replace("-", "−")


def location(row: pd.Series) -> str:
    """Where a claim row is measured: ``3-D full ±0.1``, or ``runs`` for run-level rows."""
    parts = []
    if pd.notna(row["dims"]):
        parts.append(f"{int(row['dims'])}-D")
    if isinstance(row["connectivity"], str) and row["connectivity"]:
        parts.append(row["connectivity"])
    if pd.notna(row["distance"]):
        parts.append(f"±{row['distance']:g}")
    return " ".join(parts) or "runs"


def claims_markdown(claims: pd.DataFrame) -> str:
    """Markdown of every claim row between the generated-section markers."""
    lines = [START]
    for claim, rows in claims.groupby("claim", sort=False):
        first = rows.iloc[0]
        lines += [
            "",
            f"**{claim}** ({first['comparison']}; negligible below {_number(first['margin'])} "
            "in the statistic's unit):",
            "",
            "| landscape | statistic | n | effect [95 % CI] | effect size | verdict |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for _, row in rows.iterrows():
            n = f"{int(row['n_a'])}" + (f" / {int(row['n_b'])}" if row["n_b"] else "")
            interval = (
                f"{_number(row['effect'])} [{_number(row['ci_low'])}, {_number(row['ci_high'])}]"
            )
            size = _number(row["effect_size"])
            if pd.notna(row.get("unadjusted")):
                size = f"unadjusted rho {_number(row['unadjusted'])}"
            lines.append(
                f"| {location(row)} | {row['statistic']} | {n} | {interval} | {size} | "
                f"{row['verdict']} |"
            )
    lines += ["", END]
    return "\n".join(lines)


def generated_section(text: str) -> str:
    """The generated claims section of ``text`` (markers included); '' when it has none."""
    start, end = text.find(START), text.find(END)
    return text[start : end + len(END)] if 0 <= start < end else ""
