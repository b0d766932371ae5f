"""Normal runs print no third-party noise (faiss k-means warnings on a small index)."""

from __future__ import annotations

import json

from smart_plugins.cli.main import main


def test_small_residual_index_builds_without_faiss_warnings(tmp_path, tiny_model_dir, capfd):
    corpus = tmp_path / "c.jsonl"
    words = "red star marker labels blue moon code module green apple banana text python library files".split()
    corpus.write_text("".join(
        json.dumps({"_id": f"d{i}", "text": " ".join(words[(i + j) % len(words)] for j in range(12))}) + "\n"
        for i in range(120)
    ))
    assert main(["--quiet", "index", "build", str(tmp_path / "idx"), "--model", str(tiny_model_dir), "--corpus",
                 str(corpus), "--compression", "residual-4"]) == 0
    err = capfd.readouterr().err
    assert "please provide at least" not in err and "WARNING clustering" not in err
