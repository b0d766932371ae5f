"""Lexical reference: BM25 through bm25s with the Snowball English stemmer (PyStemmer)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def bm25_run(
    doc_ids: Sequence[str],
    doc_texts: Sequence[str],
    query_ids: Sequence[str],
    query_texts: Sequence[str],
    k: int = 100,
    *,
    language: str = "english",
) -> dict[str, dict[str, float]]:
    """Top-``k`` BM25 run ``{query id: {doc id: score}}`` (English stop words + stemming).

    Examples
    --------
    >>> run = bm25_run(["a", "b"], ["red stars shine", "blue moon"], ["q"], ["a red star"], k=1)
    >>> list(run["q"])
    ['a']
    """
    import bm25s
    import Stemmer

    if not doc_texts:
        raise ValueError("BM25 needs at least one document")
    stemmer = Stemmer.Stemmer(language)
    stopwords = "en" if language == "english" else None
    corpus_tokens = bm25s.tokenize(list(doc_texts), stopwords=stopwords, stemmer=stemmer, show_progress=False)
    retriever = bm25s.BM25()
    retriever.index(corpus_tokens, show_progress=False)
    query_tokens = bm25s.tokenize(list(query_texts), stopwords=stopwords, stemmer=stemmer, show_progress=False)
    k = min(k, len(doc_texts))
    ids = np.asarray(list(doc_ids), dtype=object)
    run: dict[str, dict[str, float]] = {}
    # bm25s rejects a query whose tokens are all unknown or stop words: such queries get no results.
    vocab = query_tokens.vocab
    inverse = {v: t for t, v in vocab.items()}
    corpus_vocab = corpus_tokens.vocab
    batch_ids, batch_words = [], []
    for qid, tokens in zip(query_ids, query_tokens.ids):
        words = [inverse[t] for t in tokens if inverse[t] in corpus_vocab]
        run[str(qid)] = {}
        if words:
            batch_ids.append(str(qid))
            batch_words.append(words)
    if batch_words:
        results, scores = retriever.retrieve(batch_words, k=k, show_progress=False, n_threads=1)
        for qid, row, row_scores in zip(batch_ids, results, scores):
            run[qid] = {str(ids[i]): float(s) for i, s in zip(row, row_scores) if s > 0}
    return run
