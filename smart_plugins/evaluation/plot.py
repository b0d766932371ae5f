"""Plot of a metric against λ_late / λ_pool (one line per task)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from smart_plugins.atomic import atomic_output

_RATIO_TICKS = ((0.0, "0\n(pooled)"), (0.25, "1/4"), (0.5, "1/2"), (1.0, "1"), (2.0, "2"), (4.0, "4"), (math.inf, "∞\n(late)"))


def ratio_to_share(ratio: float | None) -> float:
    """Map λ_late/λ_pool in [0, ∞] to the late share in [0, 1] (the plot's x axis)."""
    if ratio is None or math.isinf(ratio):
        return 1.0
    return ratio / (1.0 + ratio)


def plot_sweeps(
    sweeps: Mapping[str, Sequence[Mapping[str, Any]]],
    path: str | Path,
    *,
    metric: str = "ndcg@10",
    title: str | None = None,
) -> Path:
    """Draw ``metric`` against λ_late/λ_pool for each named sweep and save a PNG atomically.

    Each sweep is a list of points as in the report JSON: ``{"late_ratio": r or None, metric: v}``
    (``None`` = late only).

    Examples
    --------
    >>> import tempfile, os
    >>> pts = [{"late_ratio": 0.0, "ndcg@10": 0.7}, {"late_ratio": 1.0, "ndcg@10": 0.8}, {"late_ratio": None, "ndcg@10": 0.82}]
    >>> out = plot_sweeps({"task": pts}, os.path.join(tempfile.mkdtemp(), "l.png"))
    >>> out.stat().st_size > 0
    True
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not sweeps:
        raise ValueError("nothing to plot: no λ sweep")
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=120)
    for name, points in sweeps.items():
        if not points:
            continue
        if any(metric not in p for p in points):
            raise ValueError(f"sweep {name!r} has no {metric!r} values")
        ordered = sorted(points, key=lambda p: ratio_to_share(p.get("late_ratio")))
        xs = [ratio_to_share(p.get("late_ratio")) for p in ordered]
        ys = [p[metric] for p in ordered]
        ax.plot(xs, ys, marker="o", label=name)
    ax.set_xticks([ratio_to_share(r) for r, _ in _RATIO_TICKS], [label for _, label in _RATIO_TICKS])
    ax.set_xlabel("λ_late / λ_pool")
    ax.set_ylabel(metric)
    ax.axvline(0.5, color="grey", linestyle=":", linewidth=1)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    ax.set_title(title or f"{metric} against the late/pooled weight ratio")
    fig.tight_layout()
    path = Path(path)
    try:
        with atomic_output(path) as tmp:
            fig.savefig(tmp, format="png")
    finally:
        plt.close(fig)
    return path
