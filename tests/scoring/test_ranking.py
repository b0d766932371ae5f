"""The one top-k and the one hybrid combination of the library."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from smart_plugins.scoring import ScoreWeights, top_k


@pytest.mark.parametrize("n, k", [(1, 1), (7, 3), (100, 1), (100, 10), (1000, 40), (50, 200)])
def test_top_k_numpy_is_a_stable_descending_sort_cut_at_k(n, k):
    rng = np.random.default_rng(n + k)
    scores = np.where(rng.random(n) < 0.2, -np.inf, rng.integers(0, 6, size=n).astype(np.float32))  # many ties
    values, order = top_k(scores, k)
    expected = np.argsort(-scores, kind="stable")[:k]
    assert order.tolist() == expected.tolist() and values.tolist() == scores[expected].tolist()
    batch = np.stack([scores, scores[::-1]])
    b_values, b_order = top_k(batch, k)
    assert b_order[1].tolist() == np.argsort(-scores[::-1], kind="stable")[:k].tolist()


def test_top_k_tensor_and_bad_k():
    values, order = top_k(torch.tensor([[0.1, 0.7, 0.3]]), 5)
    assert order.tolist() == [[1, 2, 0]] and torch.is_tensor(values)
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="k must be a positive integer"):
            top_k(np.zeros(3), bad)


def test_combine_is_the_weighted_sum_on_any_array_type():
    weights = ScoreWeights(0.25, 2.0)
    pooled, late = np.array([0.4, 0.8]), np.array([0.5, 0.1])
    assert np.allclose(weights.combine(pooled, late), [1.1, 0.4])
    assert torch.allclose(weights.combine(torch.tensor(pooled), torch.tensor(late)), torch.tensor([1.1, 0.4], dtype=torch.float64))
    assert weights.combine(0.8, None) == pytest.approx(0.2)
