"""λ sweep, λ tuning on a held-out split, and the weights file a user passes back or an index records."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from smart_plugins.atomic import atomic_write_json
from smart_plugins.evaluation.fusion import FUSIONS, FusionPolicy
from smart_plugins.evaluation.metrics import Qrels, evaluate_run
from smart_plugins.evaluation.retrieval import CandidateScores
from smart_plugins.scoring import ScoreWeights
from smart_plugins.scoring.auto_weights import LATE_SHARES

#: Late shares λ_late / (λ_pool + λ_late) tried by ``--tune-lambda``.
DEFAULT_TUNING_GRID: tuple[float, ...] = LATE_SHARES
WEIGHTS_FILE_FORMAT = "smart-plugins/score-weights"


def weights_from_share(late_share: float) -> ScoreWeights:
    """λ with ``late / (pool + late) = late_share``, scaled so the larger weight is 1
    (:meth:`ScoreWeights.from_late_share`).

    Examples
    --------
    >>> weights_from_share(0.5), weights_from_share(0.8)
    (ScoreWeights(pool=1.0, late=1.0), ScoreWeights(pool=0.25, late=1.0))
    """
    return ScoreWeights.from_late_share(late_share)


def late_ratio(weights: ScoreWeights) -> float:
    """``λ_late / λ_pool`` (``inf`` for late only)."""
    return math.inf if weights.pool == 0 else weights.late / weights.pool


def parse_lambdas(text: str) -> list[ScoreWeights]:
    """Parse a λ list: items are ``POOL:LATE`` pairs or a ratio ``λ_late/λ_pool`` (``inf`` = late only).

    Examples
    --------
    >>> parse_lambdas("0, 0.5, 1:1, inf")
    [ScoreWeights(pool=1.0, late=0.0), ScoreWeights(pool=1.0, late=0.5), ScoreWeights(pool=1.0, late=1.0), ScoreWeights(pool=0.0, late=1.0)]
    """
    out = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        if ":" in item:
            out.append(ScoreWeights.parse(item))
            continue
        try:
            ratio = float(item)
        except ValueError:
            raise ValueError(f"a λ item must be POOL:LATE or a number λ_late/λ_pool, got {item!r}") from None
        if ratio < 0 or math.isnan(ratio):
            raise ValueError(f"a λ ratio must be >= 0, got {item!r}")
        out.append(ScoreWeights(0.0, 1.0) if math.isinf(ratio) else ScoreWeights(1.0, ratio))
    if not out:
        raise ValueError("the λ list is empty")
    return out


@dataclass(frozen=True)
class SweepPoint:
    """One λ setting and its metrics."""

    weights: ScoreWeights
    metrics: dict[str, float]

    def as_dict(self) -> dict[str, Any]:
        ratio = late_ratio(self.weights)
        return {"weights": self.weights.as_dict(), "late_ratio": None if math.isinf(ratio) else ratio, **self.metrics}


def sweep(
    scores: CandidateScores,
    query_ids: Sequence[str],
    doc_ids: Sequence[str],
    qrels: Qrels,
    lambdas: Sequence[ScoreWeights],
    metrics: Mapping[str, str],
    *,
    fusion: FusionPolicy = "weighted",
    depth: int = 100,
) -> list[SweepPoint]:
    """Metrics of every λ in ``lambdas`` from the same candidate scores."""
    return [
        SweepPoint(w, evaluate_run(scores.run(query_ids, doc_ids, w, depth, fusion), qrels, metrics)) for w in lambdas
    ]


@dataclass(frozen=True)
class TunedWeights:
    """The λ (and fusion) chosen on a tuning split, with what it was chosen on.

    Examples
    --------
    >>> tuned = TunedWeights(ScoreWeights(0.25, 1.0), "weighted", {"split": "train"})
    >>> TunedWeights.from_dict(tuned.as_dict()) == tuned
    True
    """

    weights: ScoreWeights
    fusion: str = "weighted"
    provenance: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "format": WEIGHTS_FILE_FORMAT,
            "weights": self.weights.as_dict(),
            "fusion": self.fusion,
            "provenance": self.provenance,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TunedWeights:
        if not isinstance(data, Mapping) or "weights" not in data:
            raise ValueError("a weights file must be a JSON object with a 'weights' entry {'pool': .., 'late': ..}")
        raw = data["weights"]
        if not isinstance(raw, Mapping) or set(raw) - {"pool", "late"}:
            raise ValueError(f"'weights' must look like {{'pool': 1.0, 'late': 1.0}}, got {raw!r}")
        fusion = str(data.get("fusion", "weighted"))
        if fusion not in FUSIONS:
            raise ValueError(f"'fusion' must be one of {', '.join(FUSIONS)}, got {fusion!r}")
        return cls(ScoreWeights(**raw), fusion, dict(data.get("provenance") or {}))

    def save(self, path: str | Path) -> Path:
        """Write the JSON file atomically."""
        path = Path(path)
        atomic_write_json(path, self.as_dict())
        return path

    @classmethod
    def load(cls, path: str | Path) -> TunedWeights:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"weights file {str(path)!r} does not exist")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ValueError(f"weights file {str(path)!r} is not valid JSON ({exc.msg})") from None
        return cls.from_dict(data)


def tune_weights(
    scores: CandidateScores,
    query_ids: Sequence[str],
    doc_ids: Sequence[str],
    qrels: Qrels,
    *,
    fusion: FusionPolicy = "weighted",
    grid: Sequence[float] = DEFAULT_TUNING_GRID,
    metric: tuple[str, str] = ("ndcg@10", "nDCG@10"),
    depth: int = 100,
    provenance: Mapping[str, Any] | None = None,
) -> tuple[TunedWeights, list[SweepPoint]]:
    """Pick the late share of ``grid`` with the best ``metric`` (ties: the earliest in the grid)."""
    points = sweep(scores, query_ids, doc_ids, qrels, [weights_from_share(s) for s in grid], dict([metric]), fusion=fusion, depth=depth)
    best = max(range(len(points)), key=lambda i: (points[i].metrics[metric[0]], -i))
    info = {"metric": metric[0], "value": points[best].metrics[metric[0]], "late_share": grid[best], "queries": len(query_ids)}
    info.update(provenance or {})
    return TunedWeights(points[best].weights, fusion, info), points
