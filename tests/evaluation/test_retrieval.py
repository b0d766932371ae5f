from __future__ import annotations

import pytest
import torch

from smart_plugins.encoder import EncodedTexts
from smart_plugins.evaluation.fusion import fuse
from smart_plugins.evaluation.retrieval import score_candidates
from smart_plugins.scoring import ScoreWeights, smart_scores


def _random_encoded(n: int, seed: int, dim: int = 8) -> EncodedTexts:
    gen = torch.Generator().manual_seed(seed)
    tokens = [torch.nn.functional.normalize(torch.randn(int(torch.randint(1, 6, (1,), generator=gen)), dim, generator=gen), dim=-1) for _ in range(n)]
    pooled = torch.nn.functional.normalize(torch.randn(n, dim, generator=gen), dim=-1)
    return EncodedTexts.from_lists(pooled, tokens)


def test_two_stage_scores_equal_the_exhaustive_scores_of_the_candidates():
    queries, docs = _random_encoded(5, 0), _random_encoded(40, 1)
    full = smart_scores(queries, docs, ScoreWeights(1, 1))
    two = score_candidates(queries, docs, k=7)
    assert not two.exhaustive and two.candidates.shape == (5, 7)
    assert torch.equal(two.candidates, torch.topk(full.pooled, 7, dim=1).indices)
    assert torch.allclose(two.pooled, torch.gather(full.pooled, 1, two.candidates))
    assert torch.allclose(two.late, torch.gather(full.late, 1, two.candidates), atol=1e-6)


def test_exhaustive_scores_every_document():
    queries, docs = _random_encoded(3, 2), _random_encoded(10, 3)
    full = smart_scores(queries, docs, ScoreWeights(1, 1))
    every = score_candidates(queries, docs, k=None)
    assert every.exhaustive and every.k == 10
    assert torch.allclose(every.late, full.late, atol=1e-6)
    rows, values = every.top(ScoreWeights(1, 1), depth=4)
    assert torch.equal(rows, torch.topk(full.hybrid, 4, dim=1).indices)
    assert torch.allclose(values, torch.topk(full.hybrid, 4, dim=1).values, atol=1e-6)
    assert score_candidates(queries, docs, k=50).exhaustive  # k >= N means every document


def test_runs_map_rows_to_ids_best_first():
    queries, docs = _random_encoded(2, 4), _random_encoded(6, 5)
    scores = score_candidates(queries, docs, k=4)
    doc_ids = [f"d{i}" for i in range(6)]
    run = scores.run(["qa", "qb"], doc_ids, ScoreWeights(0, 1), depth=3)
    assert list(run) == ["qa", "qb"] and all(len(v) == 3 for v in run.values())
    values = list(run["qa"].values())
    assert values == sorted(values, reverse=True)
    first = scores.first_stage_run(["qa", "qb"], doc_ids)
    assert all(len(v) == 4 for v in first.values())
    with pytest.raises(ValueError, match="query ids"):
        scores.run(["qa"], doc_ids, ScoreWeights())


def test_bad_inputs():
    docs = _random_encoded(4, 6)
    with pytest.raises(ValueError, match="k must be positive"):
        score_candidates(docs, docs, k=0)
    with pytest.raises(ValueError, match="no queries"):
        score_candidates(docs.select([]), docs)


def test_zscore_fusion_is_scale_free():
    gen = torch.Generator().manual_seed(0)
    pooled, late = torch.rand(3, 9, generator=gen), torch.rand(3, 9, generator=gen)
    a = fuse(pooled, late, ScoreWeights(1, 1), "zscore")
    b = fuse(10 * pooled + 3, 0.1 * late - 1, ScoreWeights(1, 1), "zscore")
    assert torch.allclose(a, b, atol=1e-4)
    assert not torch.allclose(fuse(pooled, late, ScoreWeights(1, 1)).argsort(), fuse(10 * pooled, late, ScoreWeights(1, 1)).argsort())
    with pytest.raises(ValueError, match="fusion must be one of"):
        fuse(pooled, late, ScoreWeights(), "rrf")  # type: ignore[arg-type]


@pytest.mark.parametrize("k", [3, None], ids=["rerank", "exhaustive"])
def test_scoring_bars_go_through_the_progress_helper(monkeypatch, k):
    """show_progress=True draws the MaxSim bar; TQDM_DISABLE hides it, as it hides every bar of the library."""
    import io
    from contextlib import redirect_stderr

    queries, docs = _random_encoded(3, 4), _random_encoded(10, 5)
    with redirect_stderr(shown := io.StringIO()):
        score_candidates(queries, docs, k=k, show_progress=True)
    monkeypatch.setenv("TQDM_DISABLE", "1")
    with redirect_stderr(hidden := io.StringIO()):
        score_candidates(queries, docs, k=k, show_progress=True)
    assert "MaxSim" in shown.getvalue() and hidden.getvalue() == ""
