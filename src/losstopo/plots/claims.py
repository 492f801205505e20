"""The claims table as a forest plot: each row's effect and 95 % interval in units of its
negligible margin (so counts, decades and correlations share one axis), coloured by verdict.

Between the dashed lines at ±1 an effect is negligible; a row holds when its interval is
right of 0 and its estimate right of +1, and fails when its interval is left of 0 or inside
the dashed lines.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from losstopo.errors import LosstopoError

VERDICT_COLOURS = {"holds": "#1b7837", "fails": "#b2182b", "undetermined": "#878787"}
CLIP = 8.0  # intervals beyond ±8 margins are clipped at the frame


def row_label(row: pd.Series) -> str:
    """``statistic · 3-D full ±0.1`` for one claim row."""
    from losstopo.claims.markdown import location

    return f"{row['statistic']} · {location(row)}"


def claims_forest(claims: pd.DataFrame) -> Figure:
    """One line per claim row, grouped by claim, effect / margin with its interval."""
    import matplotlib.pyplot as plt

    required = ["claim", "statistic", "effect", "ci_low", "ci_high", "margin", "verdict"]
    missing = [c for c in required if c not in claims.columns]
    if missing:
        raise LosstopoError(f"claims table lacks column(s) {', '.join(missing)}")
    if claims.empty:
        raise LosstopoError("claims table has no rows")
    n = len(claims) + claims["claim"].nunique()
    fig, ax = plt.subplots(figsize=(11, 0.24 * n + 1.6), layout="constrained")
    y, ticks, labels = 0.0, [], []
    for claim, rows in claims.groupby("claim", sort=False):
        ax.text(-CLIP, y, claim, fontweight="bold", va="center", ha="left", fontsize=8)
        y -= 1
        for _, row in rows.iterrows():
            scale = float(row["margin"])
            values = np.array([row["effect"], row["ci_low"], row["ci_high"]], dtype=float) / scale
            colour = VERDICT_COLOURS.get(row["verdict"], "black")
            if np.all(np.isfinite(values)):
                low, high = np.clip(values[1:], -CLIP, CLIP)
                ax.plot([low, high], [y, y], color=colour, lw=2, gid=f"interval:{len(ticks)}")
                effect = np.clip(values[0], -CLIP, CLIP)
                ax.plot(effect, y, "o", color=colour, ms=4, gid=f"effect:{len(ticks)}")
            else:
                ax.text(0, y, "no finite interval", color=colour, fontsize=6, va="center")
            ticks.append(y)
            labels.append(row_label(row))
            y -= 1
    ax.axvline(0, color="black", lw=0.8)
    for edge in (-1, 1):
        ax.axvline(edge, color="black", lw=0.6, ls="--")
    ax.set_yticks(ticks, labels, fontsize=6)
    ax.set_xlim(-CLIP, CLIP)
    ax.set_ylim(y, 1)
    ax.set_xlabel("effect / negligible margin (95 % bootstrap interval over seeds)")
    handles = [
        plt.Line2D([], [], color=c, lw=2, marker="o", ms=4, label=v)
        for v, c in VERDICT_COLOURS.items()
    ]
    ax.legend(handles=handles, loc="lower right", fontsize=7, title="verdict", title_fontsize=7)
    ax.set_title("The paper's claims, decided from the topology tables")
    return fig
