"""chart.png: each gated metric against its threshold, one row per gate (matplotlib, Agg).

Each row has its own scale (fractions, seconds, counts): the bar is the value, the whisker its
95% interval, the dashed line the threshold, the colour the verdict; unmeasured gates say so.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

COLOURS = {"pass": "#2e7d32", "fail": "#c62828", "inconclusive": "#f9a825",
           "unmeasured": "#9e9e9e"}


def draw_gates(gates: Sequence[Mapping[str, Any]], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = max(1, len(gates))
    figure, axes = plt.subplots(rows, 1, figsize=(8, 0.9 * rows + 1.0), squeeze=False)
    for axis, gate in zip(axes[:, 0], gates, strict=False):
        value, threshold = gate.get("value"), float(gate["threshold"])
        interval = gate.get("interval")
        colour = COLOURS.get(str(gate["verdict"]), "#9e9e9e")
        high = max([threshold, value or 0.0, (interval or {}).get("high", 0.0)]) or 1.0
        limit = 1.0 if gate.get("unit") == "fraction" else high * 1.25
        if value is None:
            axis.text(0.01, 0.5, f"unmeasured: {str(gate.get('reason') or '')[:80]}",
                      transform=axis.transAxes, va="center", fontsize=7, color="#616161")
        else:
            axis.barh([0], [value], color=colour, height=0.5)
            axis.text(value, 0.3, f" {value:.3g}", va="bottom", fontsize=7)
            if interval:
                axis.errorbar([value], [0], xerr=[[value - interval["low"]],
                                                  [interval["high"] - value]],
                              fmt="none", ecolor="black", capsize=4, linewidth=1)
        axis.axvline(threshold, color="black", linestyle="--", linewidth=1)
        axis.set_xlim(0, limit)
        axis.set_yticks([0])
        bound = "≥" if gate["direction"] == "min" else "≤"
        axis.set_yticklabels([f"{gate['gate']}\n{gate['verdict']} ({bound} {threshold:g})"],
                             fontsize=7)
        axis.tick_params(axis="x", labelsize=7)
    figure.suptitle(title, fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
