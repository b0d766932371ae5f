"""The ``smart-plugins index ...`` and ``smart-plugins search`` commands, run in-process."""

from __future__ import annotations

import json

import pytest

from smart_plugins.cli.main import main


@pytest.fixture()
def corpus_file(tmp_path, corpus):
    ids, texts, metas = corpus
    path = tmp_path / "corpus.jsonl"
    with path.open("w") as fh:
        for i, t, m in zip(ids, texts, metas):
            fh.write(json.dumps({"_id": i, "title": "", "text": t, **m}) + "\n")
    return path


def test_build_search_add_delete_info(tmp_path, tiny_model_dir, corpus_file, capsys):
    folder = tmp_path / "idx"
    assert main(["index", "build", str(folder), "--model", str(tiny_model_dir), "--corpus", str(corpus_file),
                 "--compression", "int8", "--chunk", "3"]) == 0
    out = capsys.readouterr().out
    assert "indexed 8 documents" in out and "int8" in out

    assert main(["search", str(folder), "rust command tool", "-k", "3", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["query"] == "rust command tool" and len(result["hits"]) == 3
    assert result["hits"][0]["id"] == "rust-tool"
    assert set(result["hits"][0]) >= {"id", "score", "pooled", "late", "text", "metadata"}

    assert main(["search", str(folder), "red", "-k", "8", "--where", "color=red", "--json"]) == 0
    assert {h["metadata"]["color"] for h in json.loads(capsys.readouterr().out)["hits"]} == {"red"}

    extra = tmp_path / "more.jsonl"
    extra.write_text(json.dumps({"id": "new", "text": "banana apple text"}) + "\n")
    assert main(["index", "add", str(folder), "--corpus", str(extra)]) == 0
    assert main(["index", "delete", str(folder), "srv", "perl-doc"]) == 0
    assert "deleted 2 documents; the index holds 7" in capsys.readouterr().out
    assert main(["index", "info", str(folder), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["documents"] == 7 and info["compression"] == "int8"
    assert info["token_bytes_per_token"] == 34  # 32 int8 values + a float16 scale

    assert main(["search", str(folder), "banana", "-k", "1", "--explain"]) == 0
    text_out = capsys.readouterr().out
    assert "new" in text_out and "->" in text_out


def test_cli_errors_are_reported(tmp_path, tiny_model_dir, corpus_file, capsys):
    assert main(["index", "info", str(tmp_path / "missing")]) == 1
    assert "no SMART index" in capsys.readouterr().err
    folder = tmp_path / "idx"
    assert main(["index", "build", str(folder), "--model", str(tiny_model_dir), "--corpus", str(corpus_file),
                 "--compression", "fp16"]) == 0
    assert main(["index", "delete", str(folder), "ghost"]) == 1
    assert "ghost" in capsys.readouterr().err
    assert main(["index", "add", str(folder), "--corpus", str(corpus_file)]) == 1
    assert "already in the index" in capsys.readouterr().err
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "no id"}\n')
    assert main(["index", "add", str(folder), "--corpus", str(bad)]) == 1
    assert "needs an '_id'" in capsys.readouterr().err


def test_build_with_hnsw_saves_the_graph_for_later_searches(tmp_path, tiny_model_dir, corpus_file, capsys):
    folder = tmp_path / "idx"
    assert main(["index", "build", str(folder), "--model", str(tiny_model_dir), "--corpus", str(corpus_file),
                 "--compression", "fp16", "--first-stage", "hnsw"]) == 0
    assert "hnsw graph  8 vectors over 1 segment(s)" in capsys.readouterr().out
    extra = tmp_path / "more.jsonl"
    extra.write_text(json.dumps({"id": "new", "text": "banana apple text"}) + "\n")
    assert main(["index", "add", str(folder), "--corpus", str(extra)]) == 0
    assert main(["index", "info", str(folder), "--json"]) == 0
    info = json.loads(capsys.readouterr().out.split("\n", 1)[1])
    assert info["hnsw_graph"]["vectors"] == 9 and info["hnsw_graph"]["segments"] == 2
    assert main(["search", str(folder), "banana apple", "-k", "1", "--candidates", "3", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["hits"][0]["id"] == "new"


def test_build_without_weights_gets_the_label_free_default_and_info_says_so(tmp_path, tiny_model_dir, corpus_file, capsys):
    auto, fixed = tmp_path / "auto", tmp_path / "fixed"
    assert main(["index", "build", str(auto), "--model", str(tiny_model_dir), "--corpus", str(corpus_file)]) == 0
    assert main(["index", "build", str(fixed), "--model", str(tiny_model_dir), "--corpus", str(corpus_file), "--weights", "1:2"]) == 0
    capsys.readouterr()
    assert main(["index", "info", str(auto), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["weights_source"]["kind"] == "auto"  # as SmartIndex.create without weights
    assert main(["index", "info", str(auto)]) == 0
    assert "fitted without labels once the index holds 32 documents" in capsys.readouterr().out  # 8 documents so far
    assert main(["index", "info", str(fixed)]) == 0
    out = capsys.readouterr().out
    assert "pool 1.0 : late 2.0" in out and "set explicitly" in out
