from __future__ import annotations

import json
import math

import pytest
import torch

from smart_plugins.evaluation.retrieval import CandidateScores
from smart_plugins.evaluation.tuning import TunedWeights, late_ratio, parse_lambdas, sweep, tune_weights, weights_from_share
from smart_plugins.scoring import ScoreWeights


def _scores(late_is_right: bool) -> tuple[CandidateScores, list[str], list[str], dict]:
    """4 queries x 3 candidates: the relevant doc is candidate 2; pooled ranks it last."""
    candidates = torch.tensor([[0, 1, 2]] * 4)
    pooled = torch.tensor([[0.9, 0.8, 0.7]] * 4)
    late = torch.tensor([[0.5, 0.5, 0.6]] * 4) if late_is_right else torch.tensor([[0.9, 0.5, 0.1]] * 4)
    scores = CandidateScores(candidates=candidates, pooled=pooled, late=late, exhaustive=True)
    qids = [f"q{i}" for i in range(4)]
    return scores, qids, ["a", "b", "c"], {q: {"c": 1} for q in qids}


def test_parse_lambdas_and_ratios():
    ws = parse_lambdas("0, 0.25, 2:1, inf")
    assert ws == [ScoreWeights(1, 0), ScoreWeights(1, 0.25), ScoreWeights(2, 1), ScoreWeights(0, 1)]
    assert [late_ratio(w) for w in ws] == [0.0, 0.25, 0.5, math.inf]
    for bad, message in (("", "empty"), ("x", "POOL:LATE or a number"), ("-1", ">= 0"), ("0:0", "at least one")):
        with pytest.raises(ValueError, match=message):
            parse_lambdas(bad)


def test_weights_from_share():
    assert weights_from_share(0.0) == ScoreWeights(1, 0)
    assert weights_from_share(1.0) == ScoreWeights(0, 1)
    assert late_ratio(weights_from_share(0.75)) == pytest.approx(3.0)
    with pytest.raises(ValueError):
        weights_from_share(1.5)


def test_sweep_reflects_which_score_is_right():
    scores, qids, dids, qrels = _scores(late_is_right=True)
    points = sweep(scores, qids, dids, qrels, [ScoreWeights(1, 0), ScoreWeights(0, 1)], {"mrr@10": "RR@10"})
    assert [p.metrics["mrr@10"] for p in points] == pytest.approx([1 / 3, 1.0])
    assert points[1].as_dict()["late_ratio"] is None


def test_tuning_picks_late_when_late_is_right_and_pooled_otherwise():
    scores, qids, dids, qrels = _scores(late_is_right=True)
    tuned, points = tune_weights(scores, qids, dids, qrels, grid=(0.0, 0.5, 1.0), provenance={"split": "train"})
    assert tuned.weights.late == 1.0 and tuned.weights.pool < 1.0
    assert tuned.provenance["split"] == "train" and tuned.provenance["value"] == pytest.approx(1.0)
    assert len(points) == 3
    scores, qids, dids, qrels = _scores(late_is_right=False)
    qrels = {q: {"a": 1} for q in qids}  # now the pooled favourite is relevant
    tuned, _ = tune_weights(scores, qids, dids, qrels, grid=(0.0, 0.5, 1.0))
    assert tuned.weights == ScoreWeights(1, 0)  # ties go to the earliest grid point


def test_weights_file_round_trip_and_errors(tmp_path):
    tuned = TunedWeights(ScoreWeights(0.25, 1), "zscore", {"split": "train"})
    path = tuned.save(tmp_path / "sub" / "w.json")
    assert TunedWeights.load(path) == tuned
    assert ScoreWeights(**json.loads(path.read_text())["weights"]) == ScoreWeights(0.25, 1)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        TunedWeights.load(tmp_path / "none.json")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(ValueError, match="not valid JSON"):
        TunedWeights.load(tmp_path / "bad.json")
    (tmp_path / "bad.json").write_text('{"weights": {"pool": 1, "lat": 1}}')
    with pytest.raises(ValueError, match="'weights' must look like"):
        TunedWeights.load(tmp_path / "bad.json")
    (tmp_path / "bad.json").write_text('{"weights": {"pool": 1, "late": 1}, "fusion": "max"}')
    with pytest.raises(ValueError, match="'fusion' must be one of"):
        TunedWeights.load(tmp_path / "bad.json")
