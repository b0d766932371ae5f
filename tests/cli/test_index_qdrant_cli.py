"""``smart-plugins index build --store qdrant-edge|qdrant``, search/info/add/delete on them, and
``index export DIR --to-qdrant``; run in-process."""

from __future__ import annotations

import json

import pytest

from smart_plugins.cli.main import main

pytest.importorskip("qdrant_edge")
pytest.importorskip("qdrant_client")


@pytest.fixture()
def corpus_file(tmp_path):
    from tests.index.conftest import CORPUS

    path = tmp_path / "corpus.jsonl"
    with path.open("w") as fh:
        for doc_id, text, meta in CORPUS:
            fh.write(json.dumps({"_id": doc_id, "text": text, **meta}) + "\n")
    return path


@pytest.mark.parametrize("store", ["qdrant-edge", "qdrant"])
def test_build_search_add_delete_info_on_qdrant(tmp_path, tiny_model_dir, corpus_file, capsys, store):
    folder = tmp_path / "idx"
    extra = ["--url", str(tmp_path / "server"), "--collection", "docs"] if store == "qdrant" else []
    assert main(["index", "build", str(folder), "--model", str(tiny_model_dir), "--corpus", str(corpus_file),
                 "--store", store, "--chunk", "3", *extra]) == 0
    out = capsys.readouterr().out
    assert "indexed 8 documents" in out and store in out
    if store == "qdrant-edge":
        assert (folder / "shard").is_dir() and (folder / "smart-qdrant.json").is_file()

    assert main(["search", str(folder), "rust command tool", "-k", "3", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert [h["id"] for h in result["hits"]][0] == "rust-tool" and len(result["hits"]) == 3
    assert main(["search", str(folder), "red", "-k", "8", "--where", "color=red", "--json"]) == 0
    assert {h["metadata"]["color"] for h in json.loads(capsys.readouterr().out)["hits"]} == {"red"}

    more = tmp_path / "more.jsonl"
    more.write_text(json.dumps({"id": "new", "text": "banana apple text"}) + "\n")
    assert main(["index", "add", str(folder), "--corpus", str(more)]) == 0
    assert main(["index", "delete", str(folder), "srv", "perl-doc"]) == 0
    assert "deleted 2 documents; the index holds 7" in capsys.readouterr().out
    assert main(["index", "info", str(folder), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["store"] == store and info["documents"] == 7
    assert main(["index", "info", str(folder)]) == 0
    assert "documents   7" in capsys.readouterr().out
    assert main(["search", str(folder), "banana", "-k", "1", "--explain"]) == 0
    assert "new" in capsys.readouterr().out


def test_export_a_local_index_to_qdrant_edge(tmp_path, tiny_model_dir, corpus_file, capsys):
    local = tmp_path / "local"
    assert main(["index", "build", str(local), "--model", str(tiny_model_dir), "--corpus", str(corpus_file),
                 "--compression", "fp32"]) == 0
    capsys.readouterr()
    assert main(["search", str(local), "java runtime library", "-k", "5", "--json"]) == 0
    before = json.loads(capsys.readouterr().out)["hits"]
    edge = tmp_path / "edge"
    assert main(["index", "export", str(local), "--to-qdrant", str(edge), "--token-dtype", "float32"]) == 0
    assert "exported 8 documents" in capsys.readouterr().out
    assert main(["search", str(edge), "java runtime library", "-k", "5", "--json"]) == 0
    after = json.loads(capsys.readouterr().out)["hits"]
    assert [h["id"] for h in after] == [h["id"] for h in before]
    assert [h["score"] for h in after] == pytest.approx([h["score"] for h in before], abs=1e-4)


def test_store_options_are_checked(tmp_path, tiny_model_dir, corpus_file, capsys):
    folder = tmp_path / "idx"
    assert main(["index", "build", str(folder), "--model", str(tiny_model_dir), "--corpus", str(corpus_file),
                 "--store", "qdrant"]) == 1
    assert "--store qdrant needs --url URL and --collection NAME" in capsys.readouterr().err
    assert main(["index", "build", str(folder), "--model", str(tiny_model_dir), "--corpus", str(corpus_file),
                 "--quantization", "int8"]) == 1
    assert "--quantization apply to --store qdrant-edge / qdrant only" in capsys.readouterr().err
    assert main(["index", "export", str(folder), "--to-qdrant", "http://localhost:6333"]) == 1
    assert "needs --collection" in capsys.readouterr().err
