from __future__ import annotations

import pytest

from smart_plugins.evaluation.dataset import load_beir, read_qrels


def test_load_keeps_judged_queries_of_the_split(tiny_beir):
    data = load_beir(tiny_beir, "test")
    assert len(data.doc_ids) == 12 and data.split == "test"
    assert data.query_ids == ["q1", "q2", "q3", "q4", "q5", "q6"]
    assert data.qrels["q3"] == {"perl-moon": 1}
    assert data.doc_texts[data.doc_index()["bar-tools"]].startswith("Bar. Command line tools")
    train = load_beir(tiny_beir, "train")
    assert set(train.query_ids).isdisjoint(data.query_ids)
    assert len(data.corpus_sha256) == 64


def test_max_queries(tiny_beir):
    assert load_beir(tiny_beir, "test", max_queries=2).query_ids == ["q1", "q2"]
    with pytest.raises(ValueError, match="max_queries"):
        load_beir(tiny_beir, "test", max_queries=0)


def test_missing_split_names_available_ones(tiny_beir):
    with pytest.raises(FileNotFoundError, match=r"qrels/dev.tsv.*available splits: test, train"):
        load_beir(tiny_beir, "dev")


def test_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_beir(tmp_path / "nope")


def test_bad_json_line_is_named(beir_copy):
    with open(beir_copy / "corpus.jsonl", "a") as handle:
        handle.write("{not json\n")
    with pytest.raises(ValueError, match=r"corpus.jsonl:13: invalid JSON"):
        load_beir(beir_copy)


def test_qrels_with_unknown_document(beir_copy):
    with open(beir_copy / "qrels" / "test.tsv", "a") as handle:
        handle.write("q1\tghost-doc\t1\n")
    with pytest.raises(ValueError, match="ghost-doc"):
        load_beir(beir_copy)


def test_qrels_with_unknown_query(beir_copy):
    with open(beir_copy / "qrels" / "test.tsv", "a") as handle:
        handle.write("q-missing\tlibfoo-dev\t1\n")
    with pytest.raises(ValueError, match="q-missing"):
        load_beir(beir_copy)


def test_duplicate_document_ids(beir_copy):
    line = (beir_copy / "corpus.jsonl").read_text().splitlines()[0]
    with open(beir_copy / "corpus.jsonl", "a") as handle:
        handle.write(line + "\n")
    with pytest.raises(ValueError, match="repeats document ids"):
        load_beir(beir_copy)


def test_read_qrels_rejects_short_rows(tmp_path):
    path = tmp_path / "q.tsv"
    path.write_text("q1\td1\n")
    with pytest.raises(ValueError, match="3 tab-separated columns"):
        read_qrels(path)
    path.write_text("q1\td1\tx\n")
    with pytest.raises(ValueError, match="not a number"):
        read_qrels(path)
