from __future__ import annotations

import math

import pytest

from smart_plugins.evaluation.metrics import DEFAULT_METRICS, evaluate_run, parse_metrics, per_query


def test_default_metric_names():
    assert list(DEFAULT_METRICS) == ["ndcg@10", "recall@10", "recall@100", "mrr@10"]


def test_metrics_follow_their_definitions():
    qrels = {"q1": {"a": 1}, "q2": {"b": 1}, "q3": {"z": 1}}
    run = {
        "q1": {"a": 3.0, "b": 2.0},  # relevant first
        "q2": {"a": 3.0, "b": 2.0},  # relevant second
        "q3": {"a": 1.0},  # relevant not retrieved
    }
    out = evaluate_run(run, qrels)
    assert out["mrr@10"] == pytest.approx((1 + 0.5 + 0) / 3)
    assert out["ndcg@10"] == pytest.approx((1 + 1 / math.log2(3) + 0) / 3)
    assert out["recall@10"] == pytest.approx(2 / 3)


def test_queries_missing_from_the_run_count_as_zero():
    qrels = {"q1": {"a": 1}, "q2": {"b": 1}}
    assert evaluate_run({"q1": {"a": 1.0}}, qrels, {"mrr@10": "RR@10"}) == {"mrr@10": 0.5}
    assert per_query({"q1": {"a": 1.0}}, qrels, "RR@10") == {"q1": 1.0, "q2": 0.0}


def test_cutoffs_are_respected():
    qrels = {"q": {"d11": 1}}
    run = {"q": {f"d{i}": float(100 - i) for i in range(20)}}  # relevant at rank 12
    out = evaluate_run(run, qrels, parse_metrics("recall@10,recall@100,mrr@10,mrr@100"))
    assert out["recall@10"] == 0 and out["recall@100"] == 1
    assert out["mrr@10"] == 0 and out["mrr@100"] == pytest.approx(1 / 12)


def test_parse_metrics():
    assert parse_metrics(None) == DEFAULT_METRICS
    assert parse_metrics(["P@1", "recall@7"]) == {"p@1": "P@1", "recall@7": "R@7"}
    for bad in ("bleu@4", "ndcg@", "ndcg@0", "recall@x"):
        with pytest.raises(ValueError, match="unknown metric"):
            parse_metrics(bad)
