"""Pooled, late and hybrid scores and their weights."""

from __future__ import annotations

import pytest
import torch

from smart_plugins.encoder import EncodedTexts
from smart_plugins.scoring import ScoreWeights, SmartScorer, late_scores, pooled_scores, smart_scores


def _encoded(seed: int, n: int) -> EncodedTexts:
    gen = torch.Generator().manual_seed(seed)
    vectors = [torch.nn.functional.normalize(torch.randn(3 + i, 8, generator=gen), dim=-1) for i in range(n)]
    return EncodedTexts.from_lists(pooled=torch.randn(n, 6, generator=gen), token_vectors=vectors)


def test_pooled_is_cosine():
    q, d = torch.tensor([[3.0, 4.0]]), torch.tensor([[3.0, 4.0], [-4.0, 3.0], [6.0, 8.0]])
    assert torch.allclose(pooled_scores(q, d), torch.tensor([[1.0, 0.0, 1.0]]))


@pytest.mark.parametrize(("pool", "late"), [(1.0, 1.0), (0.3, 1.0), (1.0, 0.0), (0.0, 1.0)])
def test_hybrid_is_weighted_sum(pool, late):
    queries, docs = _encoded(0, 2), _encoded(1, 4)
    scores = smart_scores(queries, docs, ScoreWeights(pool, late))
    expected_pooled = pooled_scores(queries.pooled, docs.pooled)
    expected_late = late_scores(queries, docs)
    assert torch.allclose(scores.pooled, expected_pooled)
    assert torch.allclose(scores.hybrid, pool * expected_pooled + late * expected_late)
    assert (scores.late is None) == (late == 0)


def test_weights_validation_and_parsing():
    assert ScoreWeights.parse("0.5:2") == ScoreWeights(0.5, 2.0)
    with pytest.raises(ValueError, match="at least one"):
        ScoreWeights(0, 0)
    with pytest.raises(ValueError, match="finite number"):
        ScoreWeights(float("nan"), 1)
    with pytest.raises(ValueError, match="POOL:LATE"):
        ScoreWeights.parse("1,1")


def test_scorer_rank_orders_by_hybrid():
    queries, docs = _encoded(2, 1), _encoded(3, 5)
    ranked = SmartScorer().rank(queries, docs, k=3)[0]
    hybrid = smart_scores(queries, docs).hybrid[0]
    assert [i for i, _ in ranked] == torch.argsort(hybrid, descending=True)[:3].tolist()
    with pytest.raises(ValueError, match="k must be positive"):
        SmartScorer().rank(queries, docs, k=0)
