from __future__ import annotations

from smart_plugins.evaluation.bm25 import bm25_run
from smart_plugins.evaluation.dataset import load_beir
from smart_plugins.evaluation.metrics import evaluate_run


def test_bm25_finds_lexical_matches(tiny_beir):
    data = load_beir(tiny_beir)
    run = bm25_run(data.doc_ids, data.doc_texts, data.query_ids, data.query_texts, k=5)
    assert max(run["q3"], key=run["q3"].get) == "perl-moon"
    assert max(run["q4"], key=run["q4"].get) == "java-star"  # "stars" and "star" stem alike
    assert all(len(docs) <= 5 for docs in run.values())
    assert evaluate_run(run, data.qrels)["recall@10"] == 1.0


def test_bm25_query_without_known_words_gets_an_empty_list():
    run = bm25_run(["a"], ["red star"], ["q1", "q2"], ["the of and", "red"], k=3)
    assert run["q1"] == {} and list(run["q2"]) == ["a"]
