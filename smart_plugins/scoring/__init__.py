"""Scorer: pooled cosine, late interaction (MaxSim) and the SMART hybrid."""

from smart_plugins.scoring.hybrid import (
    PackedTokens,
    ScoreWeights,
    SmartScorer,
    SmartScores,
    late_scores,
    pack_tokens,
    pooled_scores,
    smart_scores,
)
from smart_plugins.scoring.ranking import top_k
from smart_plugins.scoring.maxsim import DEFAULT_MAX_ELEMENTS, maxsim, reduce_similarities

__all__ = [
    "DEFAULT_MAX_ELEMENTS",
    "PackedTokens",
    "ScoreWeights",
    "SmartScorer",
    "SmartScores",
    "late_scores",
    "maxsim",
    "pack_tokens",
    "pooled_scores",
    "reduce_similarities",
    "smart_scores",
    "top_k",
]
