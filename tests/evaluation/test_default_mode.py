"""`smart-plugins eval --modes default` is what SmartIndex.search does with no arguments."""

from __future__ import annotations

from smart_plugins.evaluation.dataset import load_beir
from smart_plugins.evaluation.runner import EvalConfig, format_table, run_evaluation
from smart_plugins.evaluation.toy import write_toy_task
from smart_plugins.index import SmartIndex
from smart_plugins.scoring import ScoreWeights


def test_default_mode_fits_the_weights_an_index_of_the_corpus_fits(tmp_path, tiny_encoder):
    folder = write_toy_task(tmp_path / "toy", n_docs=96, bindings=4, group_size=4, seed=0)
    report = run_evaluation(folder, tiny_encoder, EvalConfig(modes=["default", "hybrid"], k=50, use_cache=False, show_progress=False))
    entry = report["modes"]["default"]
    assert entry["fit"]["kind"] == "auto" and entry["fit"]["documents"] == 96
    assert entry["weights"] == ScoreWeights.from_late_share(entry["fit"]["late_share"]).as_dict()
    assert "default" in format_table(report)

    data = load_beir(folder, "test")
    with SmartIndex.create(tmp_path / "idx", tiny_encoder, compression="fp32") as index:
        index.add(data.doc_texts, ids=data.doc_ids)
        source = index.info()["weights_source"]
        assert index.weights.as_dict() == entry["weights"]
        assert source["late_share"] == entry["fit"]["late_share"]
        assert source["curve"].keys() == entry["fit"]["curve"].keys()
        for share, value in source["curve"].items():
            assert abs(value - entry["fit"]["curve"][share]) < 1e-6


def test_default_is_in_the_default_modes():
    assert EvalConfig().modes[0] == "default"
