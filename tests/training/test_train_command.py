"""``smart-plugins train`` end to end on a tiny BEIR folder and the tiny model."""

from __future__ import annotations

import json

from smart_plugins.cli.main import main
from smart_plugins.encoder import SmartEncoder

DOCS = {
    "d1": "red star server package", "d2": "blue moon client library", "d3": "python command line tool",
    "d4": "java runtime library files", "d5": "rust search index vectors", "d6": "perl text module data",
}
QUERIES = {"q1": "red star", "q2": "blue moon", "q3": "python tool", "q4": "java runtime", "q5": "rust index", "q6": "perl text"}


def make_dataset(root):
    root.mkdir()
    (root / "qrels").mkdir()
    (root / "corpus.jsonl").write_text("".join(json.dumps({"_id": k, "title": "", "text": v}) + "\n" for k, v in DOCS.items()))
    (root / "queries.jsonl").write_text("".join(json.dumps({"_id": k, "text": v}) + "\n" for k, v in QUERIES.items()))
    rows = "".join(f"q{i}\td{i}\t1\n" for i in range(1, 7))
    (root / "qrels" / "train.tsv").write_text("query-id\tcorpus-id\tscore\n" + rows)
    return root


def test_train_saves_a_loadable_model(tiny_model_dir, tmp_path, capsys):
    data = make_dataset(tmp_path / "data")
    out = tmp_path / "trained"
    argv = ["train", "--model", str(tiny_model_dir), "--train", str(data), "--dim", "8", "--epochs", "2",
            "--batch-size", "4", "--hybrid-weight", "0:1", "--cache", str(tmp_path / "c.safetensors"), "--out", str(out)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "saved model" in printed
    report = json.loads((out / "smart_training.json").read_text())
    assert report["pairs"] == 6 and report["steps"] == 4
    encoder = SmartEncoder(str(out), device="cpu")
    assert encoder.token_dim == 8 and encoder.describe()["adapter"] == report["adapter"]

    assert main(argv) == 1  # --out exists
    assert "exists" in capsys.readouterr().err
    assert main(argv + ["--overwrite"]) == 0


def test_train_names_a_bad_dataset_folder(tiny_model_dir, tmp_path, capsys):
    argv = ["train", "--model", str(tiny_model_dir), "--train", str(tmp_path / "nope"), "--out", str(tmp_path / "o")]
    assert main(argv) == 1
    assert "not a BEIR-layout dataset folder" in capsys.readouterr().err


def test_train_with_layer_mix_and_query_weights(tiny_model_dir, tmp_path):
    data = make_dataset(tmp_path / "data")
    out = tmp_path / "mixed"
    argv = ["train", "--model", str(tiny_model_dir), "--train", str(data), "--dim", "8", "--epochs", "1",
            "--batch-size", "4", "--layers", "2", "--query-weights", "--out", str(out)]
    assert main(argv) == 0
    adapter = SmartEncoder(str(out), device="cpu").describe()["adapter"]
    assert adapter["layers"] == 2 and adapter["query_weights"] is True


def test_train_on_pseudo_queries_needs_only_the_corpus(tiny_model_dir, tmp_path, capsys):
    root = tmp_path / "corpus-only"
    root.mkdir()
    long_docs = {k: f"{v} with the shared runtime tool and the search index of vectors" for k, v in DOCS.items()}
    (root / "corpus.jsonl").write_text("".join(json.dumps({"_id": k, "title": "", "text": v}) + "\n" for k, v in long_docs.items()))
    out = tmp_path / "pseudo"
    argv = ["train", "--model", str(tiny_model_dir), "--train", str(root), "--pseudo-queries", "50", "--dim", "8",
            "--epochs", "1", "--batch-size", "4", "--out", str(out)]
    assert main(argv) == 0
    report = json.loads((out / "smart_training.json").read_text())
    assert report["pairs"] == 6 and report["pseudo_queries"] == 50 and "split" not in report  # one per long document
    assert main(argv[:5] + ["--pseudo-queries", "0"] + argv[7:] + ["--overwrite"]) == 1
    assert "--pseudo-queries must be a positive" in capsys.readouterr().err


def test_pseudo_pairs_are_spans_of_their_positive(tmp_path):
    from smart_plugins.training.data import pseudo_pairs

    root = tmp_path / "c"
    root.mkdir()
    texts = [" ".join(f"w{d}_{i}" for i in range(20)) for d in range(10)]
    (root / "corpus.jsonl").write_text("".join(json.dumps({"_id": str(i), "text": t}) + "\n" for i, t in enumerate(texts)))
    pairs = pseudo_pairs(root, 4, seed=1)
    assert len(pairs) == 4 and all(p.query in p.positive and len(p.query.split()) == 8 for p in pairs)
    assert pairs == pseudo_pairs(root, 4, seed=1)
