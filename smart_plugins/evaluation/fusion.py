"""How the pooled and late scores of a candidate list are combined.

``weighted`` is the SMART formula ``λ_pool · pooled + λ_late · late`` on raw cosines.
``zscore`` first standardises each score over the query's candidate list (mean 0, std 1),
so λ weighs the two signals by their spread, not by their raw scale (cosine and MaxSim have
different ranges, which makes a raw λ = 1:1 lean towards the score that varies more).
"""

from __future__ import annotations

from typing import Literal

import torch  # noqa: F401 (used by the doctest)
from torch import Tensor

from smart_plugins.scoring import ScoreWeights

FusionPolicy = Literal["weighted", "zscore"]
FUSIONS: tuple[str, ...] = ("weighted", "zscore")


def fuse(pooled: Tensor, late: Tensor, weights: ScoreWeights, fusion: FusionPolicy = "weighted") -> Tensor:
    """``(Q, k)`` combined scores of candidate lists.

    Examples
    --------
    >>> p = torch.tensor([[0.9, 0.8, 0.7]])
    >>> l = torch.tensor([[0.5, 0.6, 0.7]])
    >>> fuse(p, l, ScoreWeights(1, 1))
    tensor([[1.4000, 1.4000, 1.4000]])
    >>> fuse(p, l, ScoreWeights(0, 1), "zscore").argmax().item()
    2
    """
    if fusion == "weighted":
        return weights.combine(pooled, late if weights.uses_late else None)
    if fusion == "zscore":
        return weights.combine(_standardise(pooled), _standardise(late))
    raise ValueError(f"fusion must be one of {', '.join(FUSIONS)}, got {fusion!r}")


def _standardise(scores: Tensor) -> Tensor:
    mean = scores.mean(dim=1, keepdim=True)
    std = scores.std(dim=1, keepdim=True).clamp_min(1e-6)
    return (scores - mean) / std
