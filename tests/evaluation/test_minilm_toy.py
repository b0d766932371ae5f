"""Real MiniLM on a small binding task: the late score must resolve local bindings better than pooled."""

from __future__ import annotations

import pytest

from smart_plugins.evaluation.runner import EvalConfig, run_evaluation
from smart_plugins.evaluation.toy import write_toy_task


@pytest.mark.slow
def test_late_beats_pooled_on_the_binding_task(minilm_encoder, tmp_path):
    folder = write_toy_task(tmp_path / "toy", n_docs=120, bindings=4, group_size=4, seed=7)
    config = EvalConfig(modes=["pooled", "late", "hybrid"], k=None, use_cache=False, show_progress=False)
    report = run_evaluation(folder, minilm_encoder, config)
    modes = report["modes"]
    assert report["retrieval"]["exhaustive"]
    assert modes["late"]["ndcg@10"] > modes["pooled"]["ndcg@10"] + 0.05
    assert modes["late"]["mrr@10"] > modes["pooled"]["mrr@10"]
