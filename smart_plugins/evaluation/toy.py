"""Controlled local-evidence task: "code-marker binding" (in the spirit of the SMART paper's toy set).

Every document binds several codes to several markers, one sentence per binding
("Code K-17 labels the red star."). Documents come in groups that use the *same* codes and the
*same* markers, bound differently (cyclic shifts), so within a group the bag of words is identical
and only the local pairing tells documents apart. A query asks for one binding; exactly one
document holds it. Markers are also reused across groups, so every marker appears in many
documents.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

from smart_plugins.atomic import atomic_write_text

COLORS = ("red", "blue", "green", "yellow", "purple", "orange", "black", "white", "pink", "brown", "grey", "silver")
SHAPES = ("star", "circle", "square", "triangle", "arrow", "cross", "diamond", "heart", "moon", "ring", "hexagon", "spiral")
_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"
_TEMPLATES = (
    "Code {code} labels the {marker}.",
    "The {marker} is labelled by code {code}.",
    "Code {code} marks the {marker}.",
)
_QUERY = "Which sheet has code {code} labelling the {marker}?"


@dataclass(frozen=True)
class ToyTask:
    """Documents, queries and qrels of a generated binding task (see :func:`make_toy_task`)."""

    docs: list[tuple[str, str]]
    queries: list[tuple[str, str]]
    qrels: dict[str, str]


def make_toy_task(n_docs: int = 1000, bindings: int = 4, group_size: int = 4, seed: int = 0) -> ToyTask:
    """Generate the binding task.

    Parameters
    ----------
    n_docs:
        Number of documents (a multiple of ``group_size`` is used, rounded down, at least one group).
    bindings:
        Code-marker bindings per document (at least 2).
    group_size:
        Documents sharing one set of codes and markers, each binding them differently;
        ``2 <= group_size <= bindings`` (cyclic shifts give distinct bindings only up to ``bindings``).
    seed:
        Random seed; the same arguments always give the same task.

    Examples
    --------
    >>> task = make_toy_task(n_docs=8, bindings=3, group_size=2, seed=1)
    >>> len(task.docs), len(task.queries)
    (8, 8)
    >>> qid, text = task.queries[0]
    >>> doc = dict(task.docs)[task.qrels[qid]]
    >>> text.split()[4] in doc
    True
    """
    if bindings < 2:
        raise ValueError(f"bindings must be at least 2, got {bindings}")
    if not 2 <= group_size <= bindings:
        raise ValueError(f"group_size must be between 2 and bindings ({bindings}), got {group_size}")
    if bindings > len(COLORS) * len(SHAPES):
        raise ValueError(f"bindings must be at most {len(COLORS) * len(SHAPES)}")
    n_groups = max(1, n_docs // group_size)
    if n_groups * bindings > len(_LETTERS) * 100:
        raise ValueError("too many documents for the code space: lower n_docs or bindings")
    rng = random.Random(seed)
    markers = [f"{c} {s}" for c in COLORS for s in SHAPES]
    codes = [f"{letter}-{number:02d}" for letter in _LETTERS for number in range(100)]
    rng.shuffle(codes)
    docs: list[tuple[str, str]] = []
    queries: list[tuple[str, str]] = []
    qrels: dict[str, str] = {}
    for group in range(n_groups):
        group_codes = codes[group * bindings : (group + 1) * bindings]  # codes are unique to a group
        group_markers = rng.sample(markers, bindings)
        for member in range(group_size):
            pairs = [(group_codes[i], group_markers[(i + member) % bindings]) for i in range(bindings)]
            sentences = [rng.choice(_TEMPLATES).format(code=c, marker=m) for c, m in pairs]
            rng.shuffle(sentences)
            doc_id = f"sheet-{group:05d}-{member}"
            docs.append((doc_id, " ".join(sentences)))
            code, marker = rng.choice(pairs)
            qid = f"q-{group:05d}-{member}"
            queries.append((qid, _QUERY.format(code=code, marker=marker)))
            qrels[qid] = doc_id
    return ToyTask(docs=docs, queries=queries, qrels=qrels)


def write_toy_task(
    folder: str | Path,
    n_docs: int = 1000,
    bindings: int = 4,
    group_size: int = 4,
    seed: int = 0,
    *,
    train_fraction: float = 0.5,
) -> Path:
    """Write the task as a BEIR folder (``qrels/train.tsv`` and ``qrels/test.tsv``); returns it.

    Queries are split by group, so train and test share no document.

    Examples
    --------
    >>> import tempfile
    >>> out = write_toy_task(tempfile.mkdtemp(), n_docs=8, bindings=2, group_size=2)
    >>> sorted(p.name for p in (out / "qrels").iterdir())
    ['test.tsv', 'train.tsv']
    """
    if not 0 <= train_fraction < 1:
        raise ValueError(f"train_fraction must be in [0, 1), got {train_fraction}")
    task = make_toy_task(n_docs, bindings, group_size, seed)
    root = Path(folder)
    (root / "qrels").mkdir(parents=True, exist_ok=True)
    groups = sorted({qid.split("-")[1] for qid, _ in task.queries})
    random.Random(seed + 1).shuffle(groups)
    train_groups = set(groups[: int(len(groups) * train_fraction)])
    _atomic_write(root / "corpus.jsonl", "".join(json.dumps({"_id": d, "title": "", "text": t}) + "\n" for d, t in task.docs))
    _atomic_write(root / "queries.jsonl", "".join(json.dumps({"_id": q, "text": t}) + "\n" for q, t in task.queries))
    for split, keep in (("train", True), ("test", False)):
        rows = [f"{q}\t{task.qrels[q]}\t1\n" for q, _ in task.queries if (q.split("-")[1] in train_groups) == keep]
        _atomic_write(root / "qrels" / f"{split}.tsv", "query-id\tcorpus-id\tscore\n" + "".join(rows))
    meta = {"task": "code-marker binding", "n_docs": len(task.docs), "bindings": bindings, "group_size": group_size, "seed": seed}
    _atomic_write(root / "meta.json", json.dumps(meta, indent=2) + "\n")
    return root


_atomic_write = atomic_write_text
