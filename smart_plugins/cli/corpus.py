"""Read and check the JSONL corpus files of ``smart-plugins index build|add``.

Each line is one JSON object ``{"_id" (or "id"), "text", ["title"], ...}``; every other field
becomes metadata. Bad rows are reported with their file and line number, never converted
silently (a ``null`` text is not the string ``"None"``).

Examples
--------
>>> import tempfile, pathlib
>>> p = pathlib.Path(tempfile.mkdtemp()) / "c.jsonl"
>>> _ = p.write_text('{"_id": "d1", "title": "T", "text": "body", "lang": "en"}\\n{"id": 7, "text": "x"}\\n')
>>> list(read_corpus(p))
[('d1', 'T. body', {'title': 'T', 'lang': 'en'}), ('7', 'x', {})]
>>> scan_corpus(p).documents
2
>>> _ = p.write_text('{"_id": "d1", "text": null}\\n')
>>> list(read_corpus(p))  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
ValueError: .../c.jsonl:1: 'text' must be a string, got null
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ID_KEYS = ("_id", "id")
Row = tuple[str, str, dict[str, Any]]


def read_corpus(path: str | Path, limit: int | None = None) -> Iterator[Row]:
    """Yield ``(id, text, metadata)`` per line; the title (when not empty) is joined before the text.

    Raises ValueError naming ``file:line`` for a line that is not a JSON object, lacks an id or a
    text, or whose id is not a string/integer, text not a string, or title not a string/null.
    """
    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"corpus file {file} does not exist" if not file.exists() else f"corpus {file} is not a file")
    count = 0
    with file.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            if limit is not None and count >= limit:
                return
            count += 1
            yield _parse_row(line, f"{file}:{number}")


def _parse_row(line: str, where: str) -> Row:
    try:
        row = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{where} is not valid JSON: {exc}") from None
    if not isinstance(row, dict):
        raise ValueError(f"{where}: each line must be a JSON object, got {_json_kind(row)}")
    id_key = next((k for k in ID_KEYS if k in row), None)
    if id_key is None or ("text" not in row and "image" not in row):
        raise ValueError(f"{where} needs an '_id' (or 'id') and a 'text' (or 'image') field")
    doc_id = row[id_key]
    if isinstance(doc_id, bool) or not isinstance(doc_id, (str, int)) or doc_id == "":
        raise ValueError(f"{where}: '{id_key}' must be a non-empty string or an integer, got {_json_kind(doc_id)}")
    text = row.get("text", "")
    if not isinstance(text, str):
        raise ValueError(f"{where}: 'text' must be a string, got {_json_kind(text)}")
    image = row.get("image")
    if "image" in row and (not isinstance(image, str) or not image.strip()):
        raise ValueError(f"{where}: 'image' must be a non-empty path string, got {_json_kind(image)}")
    title = row.get("title")
    if title is not None and not isinstance(title, str):
        raise ValueError(f"{where}: 'title' must be a string or null, got {_json_kind(title)}")
    title = (title or "").strip()
    metadata = {k: v for k, v in row.items() if k not in ID_KEYS and k != "text" and (k != "title" or title)}
    return str(doc_id), f"{title}. {text}" if title else text, metadata


def corpus_documents(texts: list[str], metas: list[dict[str, Any]], folder: Path) -> list[Any]:
    """Texts, or ``{"text", "image"}`` documents for rows whose metadata has an ``image`` path (relative to ``folder``)."""
    from smart_plugins.index.media import corpus_document

    return [corpus_document(text, meta, folder) for text, meta in zip(texts, metas)]


def _json_kind(value: Any) -> str:
    """How a JSON value reads in an error message: ``null``, ``a number (3)``, ``a list``..."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, (int, float)):
        return f"a number ({value})"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return f"a string ({value!r})" if isinstance(value, str) else type(value).__name__


@dataclass
class CorpusScan:
    """What a first pass over a corpus found: its size and its repeated ids."""

    documents: int = 0
    duplicates: dict[str, int] = field(default_factory=dict)

    def check_unique(self, path: str | Path, *, shown: int = 5) -> None:
        """Raise ValueError with the count and the first ``shown`` ids repeated in the file."""
        if self.duplicates:
            first = ", ".join(repr(i) for i in list(self.duplicates)[:shown])
            more = f" (and {len(self.duplicates) - shown} more)" if len(self.duplicates) > shown else ""
            raise ValueError(f"{path}: {len(self.duplicates)} id(s) appear more than once: {first}{more}")


def scan_corpus(path: str | Path, limit: int | None = None) -> CorpusScan:
    """Check every row of a corpus (no model needed) and count documents and repeated ids."""
    counts = Counter(doc_id for doc_id, _, _ in read_corpus(path, limit))
    return CorpusScan(sum(counts.values()), {i: n for i, n in counts.items() if n > 1})


def already_indexed(index: Any, ids: Iterator[str] | list[str], *, shown: int = 5) -> str | None:
    """A message naming ids of ``ids`` already in ``index`` (count and the first few), or None."""
    taken = [i for i in ids if i in index]
    if not taken:
        return None
    first = ", ".join(repr(i) for i in taken[:shown])
    more = f" (and {len(taken) - shown} more)" if len(taken) > shown else ""
    return f"{len(taken)} id(s) of the corpus are already in the index: {first}{more}; pass --upsert to replace them"
