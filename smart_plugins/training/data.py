"""Training pairs from a BEIR-layout folder (``corpus.jsonl``, ``queries.jsonl``, ``qrels/<split>.tsv``)."""

from __future__ import annotations

import csv
import json
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class TrainingPair:
    """A query, one relevant document, and optional hard negative documents (texts).

    Examples
    --------
    >>> TrainingPair("red star", "a red star shines").negatives
    ()
    """

    query: str
    positive: str
    negatives: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name in ("query", "positive"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                raise ValueError(f"TrainingPair.{name} must be a non-empty string, got {value!r}")
        for i, neg in enumerate(self.negatives):
            if not isinstance(neg, str) or not neg.strip():
                raise ValueError(f"TrainingPair.negatives[{i}] must be a non-empty string, got {neg!r}")


def document_text(record: dict) -> str:
    """The text of a BEIR corpus record: ``"title. text"`` (as ``smart-plugins eval`` reads it).

    Examples
    --------
    >>> document_text({"title": "", "text": "body"}), document_text({"title": "T", "text": "body"})
    ('body', 'T. body')
    """
    title = str(record.get("title") or "").strip()
    text = str(record.get("text") or "").strip()
    return f"{title}. {text}" if title and text else title or text


def _read_jsonl(path: Path) -> Iterator[dict]:
    with path.open(encoding="utf8") as handle:
        for line_no, line in enumerate(handle, 1):
            if line.strip():
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as exc:
                    raise ValueError(f"{path}:{line_no} is not valid JSON: {exc.msg}") from None


def read_qrels(path: Path) -> dict[str, dict[str, int]]:
    """``{query id: {doc id: relevance}}`` from a BEIR qrels TSV (header line first)."""
    qrels: dict[str, dict[str, int]] = {}
    with path.open(encoding="utf8", newline="") as handle:
        reader = csv.reader(handle, delimiter="\t")
        header = next(reader, None)
        if header is None or len(header) < 3:
            raise ValueError(f"{path} has no 'query-id corpus-id score' header line")
        for row_no, row in enumerate(reader, 2):
            if not row:
                continue
            if len(row) < 3:
                raise ValueError(f"{path}:{row_no} needs 3 tab-separated columns, got {len(row)}")
            qrels.setdefault(row[0], {})[row[1]] = int(row[2])
    return qrels


def load_pairs(
    folder: str | Path,
    split: str = "train",
    *,
    max_pairs: int | None = None,
    seed: int = 0,
) -> list[TrainingPair]:
    """One :class:`TrainingPair` per (query, relevant document) of ``qrels/<split>.tsv``.

    ``max_pairs`` keeps a seeded random subset (the order is shuffled either way).

    Examples
    --------
    >>> load_pairs("/work/shared/datasets/debian-siblings", max_pairs=2)  # doctest: +SKIP
    [TrainingPair(query='...', positive='...', negatives=()), TrainingPair(...)]
    """
    root = Path(folder)
    needed = [root / "corpus.jsonl", root / "queries.jsonl", root / "qrels" / f"{split}.tsv"]
    missing = [str(p) for p in needed if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"{root} is not a BEIR-layout dataset folder: missing {', '.join(missing)}")
    if max_pairs is not None and max_pairs <= 0:
        raise ValueError(f"max_pairs must be positive, got {max_pairs}")
    qrels = read_qrels(needed[2])
    wanted_docs = {d for docs in qrels.values() for d, rel in docs.items() if rel > 0}
    queries = {str(r["_id"]): str(r["text"]) for r in _read_jsonl(needed[1]) if str(r["_id"]) in qrels}
    docs = {str(r["_id"]): document_text(r) for r in _read_jsonl(needed[0]) if str(r["_id"]) in wanted_docs}
    pairs: list[TrainingPair] = []
    for qid in sorted(qrels):
        if qid not in queries:
            raise KeyError(f"query {qid!r} of qrels/{split}.tsv is not in queries.jsonl")
        for did, rel in sorted(qrels[qid].items()):
            if rel <= 0:
                continue
            if did not in docs:
                raise KeyError(f"document {did!r} of qrels/{split}.tsv is not in corpus.jsonl")
            if queries[qid].strip() and docs[did].strip():
                pairs.append(TrainingPair(queries[qid], docs[did]))
    if not pairs:
        raise ValueError(f"{root}/qrels/{split}.tsv yields no (query, relevant document) pairs")
    random.Random(seed).shuffle(pairs)
    return pairs[:max_pairs] if max_pairs else pairs


def pseudo_pairs(
    folder: str | Path,
    n: int,
    *,
    seed: int = 0,
    span_words: int = 8,
) -> list[TrainingPair]:
    """Training pairs drawn from ``corpus.jsonl`` alone: an 8-word span of a document as the query, the document as the positive.

    For users without relevance labels (``smart-plugins train --pseudo-queries N``); the draw is
    :func:`smart_plugins.scoring.pseudo_queries.draw_pseudo_queries` (documents of at least 12
    words, one query each, seeded). No ``queries.jsonl`` or qrels file is read.

    Examples
    --------
    >>> pairs = pseudo_pairs("/work/shared/datasets/stdlib-code", 100)  # doctest: +SKIP
    >>> pairs[0].query in pairs[0].positive  # doctest: +SKIP
    True
    """
    from smart_plugins.scoring.pseudo_queries import draw_pseudo_queries

    path = Path(folder) / "corpus.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"{folder} has no corpus.jsonl to draw pseudo-queries from")
    texts = [document_text(r) for r in _read_jsonl(path)]
    drawn = draw_pseudo_queries(texts, n, span_words=span_words, seed=seed)
    if not drawn:
        raise ValueError(f"{path} has no document of at least 12 words to draw a pseudo-query from")
    pairs = [TrainingPair(q.text, texts[q.doc]) for q in drawn]
    random.Random(seed).shuffle(pairs)
    return pairs


def unique_texts(pairs: Sequence[TrainingPair]) -> tuple[list[str], list[str]]:
    """Distinct query texts and distinct document texts (positives and negatives), in first-seen order.

    Examples
    --------
    >>> unique_texts([TrainingPair("q", "d"), TrainingPair("q", "e", ("d",))])
    (['q'], ['d', 'e'])
    """
    queries = list(dict.fromkeys(p.query for p in pairs))
    docs = list(dict.fromkeys(t for p in pairs for t in (p.positive, *p.negatives)))
    return queries, docs
