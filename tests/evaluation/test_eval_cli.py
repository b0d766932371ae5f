"""The ``smart-plugins eval`` / ``eval-toy`` commands end to end on the tiny fixture and the tiny random model."""

from __future__ import annotations

import json

import pytest

from smart_plugins.cli.main import main


def test_eval_writes_one_object_per_mode(tiny_beir, tiny_model_dir, tmp_path, capsys):
    out = tmp_path / "report.json"
    code = main(["eval", str(tiny_beir), "--model", str(tiny_model_dir), "--k", "5", "--json", str(out),
                 "--cache-dir", str(tmp_path / "cache"), "--device", "cpu", "--quiet"])
    assert code == 0
    report = json.loads(out.read_text())
    assert set(report["modes"]) == {"default", "pooled", "late", "hybrid", "bm25"}
    assert report["modes"]["default"]["fit"] == {"kind": "auto", "documents": report["dataset"]["documents"], "fitted": False}  # too small to fit: 1:1
    assert report["modes"]["default"]["weights"] == {"pool": 1.0, "late": 1.0}
    for values in report["modes"].values():
        for name in ("ndcg@10", "recall@10", "recall@100", "mrr@10"):
            assert 0.0 <= values[name] <= 1.0
    assert report["modes"]["hybrid"]["weights"] == {"pool": 1.0, "late": 1.0}
    assert report["modes"]["bm25"]["recall@10"] == 1.0
    assert report["retrieval"]["k"] == 5 and not report["retrieval"]["exhaustive"]
    assert 0.0 <= report["retrieval"]["first_stage_recall@5"] <= 1.0
    # the run depth is capped by k: recall@100 cannot exceed the first-stage recall
    assert report["modes"]["late"]["recall@100"] == report["retrieval"]["first_stage_recall@5"]
    assert report["model"]["token_dim"] == 32 and report["dataset"]["queries"] == 6
    assert report["timing"]["encode_corpus_s"] > 0
    assert "pooled" in capsys.readouterr().out
    assert len(list((tmp_path / "cache").glob("*.safetensors"))) == 2  # corpus + test queries


def test_rerun_hits_the_cache_and_exhaustive_matches_two_stage_at_full_k(tiny_beir, tiny_model_dir, tmp_path):
    cache = ["--cache-dir", str(tmp_path / "cache"), "--device", "cpu", "--quiet", "--model", str(tiny_model_dir)]
    main(["eval", str(tiny_beir), "--modes", "late", "--k", "12", "--json", str(tmp_path / "a.json"), *cache])
    main(["eval", str(tiny_beir), "--modes", "late", "--exhaustive", "--json", str(tmp_path / "b.json"), *cache])
    a, b = (json.loads((tmp_path / n).read_text()) for n in ("a.json", "b.json"))
    assert b["timing"]["encode_corpus_s"] == 0.0  # loaded from the cache
    assert b["retrieval"]["exhaustive"]
    assert a["modes"]["late"] == pytest.approx(b["modes"]["late"])


def test_sweep_plot_tune_and_weights_file(tiny_beir, tiny_model_dir, tmp_path, capsys):
    common = ["--model", str(tiny_model_dir), "--cache-dir", str(tmp_path / "c"), "--device", "cpu", "--quiet", "--k", "12"]
    weights = tmp_path / "w.json"
    code = main(["eval", str(tiny_beir), "--modes", "pooled,late", "--lambdas", "0,1,inf", "--plot", str(tmp_path / "l.png"),
                 "--tune-lambda", "--save-weights", str(weights), "--json", str(tmp_path / "r.json"), *common])
    assert code == 0
    report = json.loads((tmp_path / "r.json").read_text())
    points = report["lambda_sweep"]["points"]
    assert [p["late_ratio"] for p in points] == [0.0, 1.0, None]
    assert points[0]["ndcg@10"] == report["modes"]["pooled"]["ndcg@10"]
    assert points[-1]["ndcg@10"] == report["modes"]["late"]["ndcg@10"]
    assert report["tuned"]["provenance"]["split"] == "train"
    assert len(report["tuning_curve"]) == 14 and max(p["ndcg@10"] for p in report["tuning_curve"]) == report["tuned"]["provenance"]["value"]
    assert (tmp_path / "l.png").read_bytes()[:4] == b"\x89PNG"
    saved = json.loads(weights.read_text())
    assert saved == report["tuned"]
    out = tmp_path / "r2.json"
    main(["eval", str(tiny_beir), "--modes", "pooled", "--weights-file", str(weights), "--json", str(out), *common])
    again = json.loads(out.read_text())
    assert again["modes"]["tuned"]["weights"] == saved["weights"]
    assert again["modes"]["tuned"]["ndcg@10"] == report["modes"]["tuned"]["ndcg@10"]


@pytest.mark.parametrize("argv, message", [
    (["--split", "nope"], "no qrels/nope.tsv"),
    (["--modes", "pooled,colbert"], "unknown mode"),
    (["--tune-lambda", "--tune-split", "test"], "split other than the reported one"),
    (["--weights", "1-1"], "POOL:LATE"),
    (["--save-weights", "x.json"], "needs --tune-lambda"),
    (["--metrics", "bleu"], "unknown metric"),
])
def test_bad_arguments_give_a_clear_error(tiny_beir, argv, message, capsys):
    assert main(["eval", str(tiny_beir), "--modes", "bm25", *argv] if "--modes" not in argv else ["eval", str(tiny_beir), *argv]) == 1
    assert message in capsys.readouterr().err


def test_bm25_only_needs_no_model(tiny_beir, tmp_path):
    out = tmp_path / "r.json"
    assert main(["eval", str(tiny_beir), "--modes", "bm25", "--model", "no/such-model", "--json", str(out)]) == 0
    assert json.loads(out.read_text())["model"] is None


def test_eval_toy_writes_a_beir_folder(tmp_path, capsys):
    assert main(["eval-toy", str(tmp_path / "toy"), "--docs", "30", "--bindings", "3", "--group-size", "3", "--seed", "2"]) == 0
    assert (tmp_path / "toy" / "qrels" / "test.tsv").exists()
    assert main(["eval-toy", str(tmp_path / "bad"), "--bindings", "1"]) == 1
    assert "bindings must be at least 2" in capsys.readouterr().err
