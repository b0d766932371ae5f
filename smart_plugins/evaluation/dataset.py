"""Load a BEIR-format folder: ``corpus.jsonl``, ``queries.jsonl`` and ``qrels/<split>.tsv``."""

from __future__ import annotations

import csv
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class BeirDataset:
    """A retrieval task in BEIR layout, restricted to the queries of one qrels split.

    Attributes
    ----------
    name:
        The folder's name.
    doc_ids, doc_texts:
        Corpus ids and texts (``title`` and ``text`` joined), in file order.
    query_ids, query_texts:
        Queries that have at least one judgement in ``split``, in file order.
    qrels:
        ``{query id: {doc id: relevance}}`` of the split.
    split:
        Name of the qrels file used.
    corpus_sha256:
        Hash of ``corpus.jsonl`` (part of the encoded-corpus cache key).

    Examples
    --------
    >>> import tempfile
    >>> from smart_plugins.evaluation.toy import write_toy_task
    >>> folder = write_toy_task(tempfile.mkdtemp(), n_docs=12, bindings=3, group_size=3, seed=0)
    >>> data = load_beir(folder, split="test")
    >>> len(data.doc_ids), len(data.query_ids) > 0
    (12, True)
    """

    name: str
    doc_ids: list[str]
    doc_texts: list[str]
    query_ids: list[str]
    query_texts: list[str]
    qrels: dict[str, dict[str, int]]
    split: str
    corpus_sha256: str = field(repr=False, default="")
    #: Per-document / per-query image paths (absolute; None where a row has no ``image``); empty
    #: lists for a text-only task. See :mod:`smart_plugins.evaluation.images`.
    doc_images: list[str | None] = field(repr=False, default_factory=list)
    query_images: list[str | None] = field(repr=False, default_factory=list)

    def doc_index(self) -> dict[str, int]:
        """Map doc id -> row of the corpus."""
        return {d: i for i, d in enumerate(self.doc_ids)}


def beir_files(folder: str | Path, split: str = "test") -> tuple[Path, Path, Path]:
    """``corpus.jsonl``, ``queries.jsonl`` and ``qrels/<split>.tsv`` of a BEIR folder (cheap: no file is read).

    Raises ``FileNotFoundError`` naming the missing folder or file (and the splits that exist).
    """
    root = Path(folder)
    if not root.is_dir():
        raise FileNotFoundError(f"dataset folder {str(root)!r} does not exist")
    corpus_path, queries_path = root / "corpus.jsonl", root / "queries.jsonl"
    qrels_path = root / "qrels" / f"{split}.tsv"
    for path in (corpus_path, queries_path, qrels_path):
        if not path.is_file():
            available = sorted(p.stem for p in (root / "qrels").glob("*.tsv")) if (root / "qrels").is_dir() else []
            hint = f" (available splits: {', '.join(available)})" if path == qrels_path and available else ""
            raise FileNotFoundError(f"BEIR dataset {str(root)!r} has no {path.relative_to(root)}{hint}")
    return corpus_path, queries_path, qrels_path


def load_beir(folder: str | Path, split: str = "test", *, max_queries: int | None = None) -> BeirDataset:
    """Read a BEIR folder; only queries judged in ``qrels/<split>.tsv`` are kept.

    ``max_queries`` keeps the first N judged queries (for quick runs). Raises ``FileNotFoundError``
    naming the missing file and ``ValueError`` naming the bad line on malformed input.
    """
    root = Path(folder)
    corpus_path, queries_path, qrels_path = beir_files(root, split)
    doc_ids, doc_texts, doc_images = [], [], []
    for lineno, row in _read_jsonl(corpus_path):
        doc_ids.append(_field(row, "_id", corpus_path, lineno))
        doc_images.append(row_image(row, root, corpus_path, lineno))
        title = str(row.get("title") or "").strip()
        text = str(row.get("text") or "").strip()
        doc_texts.append(f"{title}. {text}" if title and text else title or text)
    if not doc_ids:
        raise ValueError(f"{corpus_path} holds no documents")
    if len(set(doc_ids)) != len(doc_ids):
        raise ValueError(f"{corpus_path} repeats document ids")
    qrels = read_qrels(qrels_path)
    all_queries, query_image = {}, {}
    for lineno, row in _read_jsonl(queries_path):
        all_queries[_field(row, "_id", queries_path, lineno)] = str(row.get("text") or "")
        query_image[_field(row, "_id", queries_path, lineno)] = row_image(row, root, queries_path, lineno)
    missing = [q for q in qrels if q not in all_queries]
    if missing:
        raise ValueError(f"{qrels_path} judges {len(missing)} queries missing from queries.jsonl, e.g. {missing[0]!r}")
    known = set(doc_ids)
    unknown_docs = [d for judged in qrels.values() for d in judged if d not in known]
    if unknown_docs:
        raise ValueError(f"{qrels_path} judges {len(unknown_docs)} documents missing from corpus.jsonl, e.g. {unknown_docs[0]!r}")
    query_ids = [q for q in all_queries if q in qrels]
    if max_queries is not None:
        if max_queries <= 0:
            raise ValueError(f"max_queries must be positive, got {max_queries}")
        query_ids = query_ids[:max_queries]
    empty = [q for q in query_ids if not all_queries[q].strip() and query_image[q] is None]
    if empty:
        raise ValueError(f"{queries_path}: query {empty[0]!r} has empty text")
    return BeirDataset(
        name=root.resolve().name,
        doc_ids=doc_ids,
        doc_texts=doc_texts,
        query_ids=query_ids,
        query_texts=[all_queries[q] for q in query_ids],
        qrels={q: qrels[q] for q in query_ids},
        split=split,
        corpus_sha256=file_sha256(corpus_path),
        doc_images=doc_images if any(i is not None for i in doc_images) else [],
        query_images=[query_image[q] for q in query_ids] if any(query_image[q] is not None for q in query_ids) else [],
    )


def row_image(row: dict, root: Path, path: Path, lineno: int) -> str | None:
    """A row's ``image`` field as a path (relative ones resolved against the dataset folder); checked to exist."""
    image = row.get("image")
    if image is None:
        return None
    if not isinstance(image, str) or not image.strip():
        raise ValueError(f"{path}:{lineno}: 'image' must be a non-empty path string, got {image!r}")
    if "://" in image:
        return image
    resolved = (root / image).resolve()
    if not resolved.is_file():
        raise FileNotFoundError(f"{path}:{lineno}: image {image!r} not found (looked for {resolved})")
    return str(resolved)


def read_qrels(path: str | Path) -> dict[str, dict[str, int]]:
    """Read a BEIR qrels TSV (``query-id corpus-id score``, header line optional)."""
    qrels: dict[str, dict[str, int]] = {}
    with open(path, newline="", encoding="utf-8") as handle:
        for lineno, row in enumerate(csv.reader(handle, delimiter="\t"), start=1):
            if not row or (lineno == 1 and row[0].strip().lower() in ("query-id", "query_id", "qid")):
                continue
            if len(row) < 3:
                raise ValueError(f"{path}:{lineno}: expected 3 tab-separated columns, got {row!r}")
            try:
                score = int(float(row[2]))
            except ValueError:
                raise ValueError(f"{path}:{lineno}: relevance {row[2]!r} is not a number") from None
            qrels.setdefault(row[0], {})[row[1]] = score
    if not qrels:
        raise ValueError(f"{path} holds no judgements")
    return qrels


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _read_jsonl(path: Path):
    with open(path, encoding="utf-8") as handle:
        for lineno, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{lineno}: invalid JSON ({exc.msg})") from None
            if not isinstance(row, dict):
                raise ValueError(f"{path}:{lineno}: expected a JSON object")
            yield lineno, row


def _field(row: dict, key: str, path: Path, lineno: int) -> str:
    if key not in row or row[key] is None or str(row[key]) == "":
        raise ValueError(f"{path}:{lineno}: missing {key!r}")
    return str(row[key])
