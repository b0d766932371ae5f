"""Pseudo-queries drawn from a corpus alone: a short span of a document, with that document as the answer.

They stand in for relevance labels wherever a user has none: fitting the default hybrid weights
of an index (:mod:`smart_plugins.scoring.auto_weights`) and ``smart-plugins train --pseudo-queries``.
The draw is deterministic for a given corpus, count and seed, and reads only the documents it
looks at (an index passes a reader instead of every text).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

#: Words of a drawn span (about the median query length of the shared tasks: 6 to 9 words).
DEFAULT_SPAN_WORDS = 8
#: Documents with fewer words than this are never drawn (their span would be most of the text).
MIN_DOC_WORDS = 12
#: How a query is cut from its document (see :func:`draw_pseudo_queries`).
HOW = ("span", "first", "sentence", "prose")
#: A ``"prose"`` unit has at least this many words, and at least this share of them are plain words.
PROSE_MIN_WORDS = 5
PROSE_MIN_SHARE = 0.8

_SENTENCE_END = re.compile(r"(?<=[.!?;:])\s+|\n+")
#: What may surround a plain word: quotes, brackets, comment marks (before), punctuation (after).
_BEFORE_WORD = "(\"'#"
_AFTER_WORD = ".,;:!?)\"'"
_JOINERS = re.compile(r"['-]")
_HAS_ALNUM = re.compile(r"\w")


@dataclass(frozen=True)
class PseudoQuery:
    """A drawn query text, the corpus position of the document it came from, and that document without it.

    ``rest`` is the inverse-cloze positive: the document's words with the query's words taken
    out (whitespace collapsed), for scoring the positive without the exact overlap a span has
    with its own document. ``doc_prose`` is :func:`prose_share` of the whole document.

    Examples
    --------
    >>> PseudoQuery("a red star", 3).doc
    3
    """

    text: str
    doc: int
    rest: str = ""
    doc_prose: float = 1.0


def draw_pseudo_queries(
    texts: Sequence[str],
    n: int,
    *,
    span_words: int = DEFAULT_SPAN_WORDS,
    seed: int = 0,
    how: str = "span",
) -> list[PseudoQuery]:
    """Draw up to ``n`` pseudo-queries, at most one per document, from documents of at least :data:`MIN_DOC_WORDS` words.

    Parameters
    ----------
    texts:
        The corpus (document texts, in corpus order).
    n:
        How many to draw (fewer when fewer documents are long enough).
    span_words:
        Words per query.
    seed:
        Seed of the draw (which documents, and where in each the span starts).
    how:
        ``"span"``: ``span_words`` consecutive words starting at a random word of the document;
        ``"first"``: the document's first ``span_words`` words;
        ``"sentence"``: one random sentence (or line) of at least 3 words, cut to ``2 * span_words``;
        ``"prose"``: one random natural-language sentence or line (at least :data:`PROSE_MIN_WORDS`
        words, :data:`PROSE_MIN_SHARE` of them plain words: a comment or message in code, any
        sentence of prose), cut to ``2 * span_words``; documents without one are not drawn.

    Returns
    -------
    list of PseudoQuery
        Sorted by document position.

    Examples
    --------
    >>> docs = ["one two three four five six seven eight nine ten eleven twelve thirteen", "too short"]
    >>> [(q.text, q.doc) for q in draw_pseudo_queries(docs, 5, span_words=3, how="first")]
    [('one two three', 0)]
    >>> draw_pseudo_queries(docs, 1, span_words=3, how="first")[0].rest
    'four five six seven eight nine ten eleven twelve thirteen'
    """
    return draw_from_reader(len(texts), lambda rows: [texts[r] for r in rows], n, span_words=span_words, seed=seed, how=how)


def draw_from_reader(
    count: int,
    read: Callable[[list[int]], Sequence[str]],
    n: int,
    *,
    span_words: int = DEFAULT_SPAN_WORDS,
    seed: int = 0,
    how: str = "span",
) -> list[PseudoQuery]:
    """:func:`draw_pseudo_queries` over ``count`` documents read on demand by ``read(positions)``.

    Documents are visited in a seeded random order and read in small batches until ``n`` long
    enough ones are found, so a large index reads about ``n`` documents, not all of them.

    Examples
    --------
    >>> corpus = ["word " * 20, "tiny", "text " * 30]
    >>> [q.doc for q in draw_from_reader(3, lambda rows: [corpus[r] for r in rows], 2)]
    [0, 2]
    """
    if isinstance(n, bool) or not isinstance(n, int) or n <= 0:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    if isinstance(span_words, bool) or not isinstance(span_words, int) or span_words <= 0:
        raise ValueError(f"span_words must be a positive integer, got {span_words!r}")
    if how not in HOW:
        raise ValueError(f"how must be one of {', '.join(HOW)}, got {how!r}")
    order = np.random.default_rng(seed).permutation(count).tolist()
    batch = max(64, 2 * n)
    out: list[PseudoQuery] = []
    for start in range(0, count, batch):
        rows = order[start : start + batch]
        for row, text in zip(rows, read(rows)):
            words = str(text).split()
            if len(words) < MIN_DOC_WORDS:
                continue
            rng = np.random.default_rng([seed, row])  # the span depends on the document alone
            cut = _cut(str(text), words, rng, span_words, how)
            if cut is None:
                continue
            out.append(PseudoQuery(cut[0], row, cut[1], prose_share(str(text))))
            if len(out) == n:
                return sorted(out, key=lambda q: q.doc)
    return sorted(out, key=lambda q: q.doc)


def _cut(text: str, words: list[str], rng: np.random.Generator, span_words: int, how: str) -> tuple[str, str] | None:
    """``(query, document without the query)``, or None when ``how`` finds nothing to cut."""
    if how == "first":
        return " ".join(words[:span_words]), " ".join(words[span_words:])
    if how == "span":
        start = int(rng.integers(0, len(words) - span_words + 1)) if len(words) > span_words else 0
        return " ".join(words[start : start + span_words]), " ".join(words[:start] + words[start + span_words :])
    units = [u for u in _SENTENCE_END.split(text) if len(u.split()) >= 3]
    if how == "prose":
        units = [u for u in units if is_prose(u)]
        if not units:
            return None
    elif not units:
        return " ".join(words[:span_words]), " ".join(words[span_words:])
    unit = units[int(rng.integers(len(units)))]
    unit_words = unit.split()
    kept = " ".join(unit_words[: 2 * span_words])
    before, _, after = text.partition(unit)
    rest = " ".join([*before.split(), *unit_words[2 * span_words :], *after.split()])
    return (kept.lstrip("#/*\"' ") if how == "prose" else kept), rest


def prose_share(text: str) -> float:
    r"""Share of a text's words that sit in natural-language sentences or lines (:func:`is_prose`).

    About 0.95 to 1 for package descriptions and other prose, about 0.2 for Python source (its
    comments and messages); 0 for a text of no words.

    Examples
    --------
    >>> prose_share("Parse the file and return its rows. Each row is a dict.")
    1.0
    >>> prose_share("def area(w, h):\n    # Multiply the width by the height\n    return w * h")
    0.5
    """
    units = [[w for w in unit.split() if _HAS_ALNUM.search(w)] for unit in _SENTENCE_END.split(text)]  # as is_prose counts
    total = sum(len(words) for words in units)
    prose = sum(len(words) for words in units if is_prose(" ".join(words)))
    return prose / total if total else 0.0


def mean_prose(drawn: Sequence[PseudoQuery]) -> float:
    """Mean ``doc_prose`` of the documents pseudo-queries were drawn from (1.0 for none).

    Examples
    --------
    >>> mean_prose([PseudoQuery("a b", 0, doc_prose=1.0), PseudoQuery("c d", 1, doc_prose=0.5)])
    0.75
    """
    return float(np.mean([q.doc_prose for q in drawn])) if drawn else 1.0


def is_prose(unit: str) -> bool:
    """Whether a sentence or line reads as natural language (enough words, mostly plain words).

    Examples
    --------
    >>> is_prose("# Infer the ABI bitwidth from maxsize"), is_prose("self.x = compute(y, z)")
    (True, False)
    """
    words = [w for w in unit.split() if _HAS_ALNUM.search(w)]  # comment marks and dashes are not words
    return len(words) >= PROSE_MIN_WORDS and sum(is_plain_word(w) for w in words) >= PROSE_MIN_SHARE * len(words)


def is_plain_word(word: str) -> bool:
    """A word of prose: letters of any script, none upper case after the first (or all capitals),
    joined by ``'`` or ``-``, with quotes, brackets, comment marks or punctuation around it.

    Examples
    --------
    >>> [is_plain_word(w) for w in ("Library,", "don't", "NASA", "développement", "Übersetzung", "self.x", "getValue")]
    [True, True, True, True, True, False, False]
    """
    core = word.lstrip(_BEFORE_WORD).rstrip(_AFTER_WORD)
    if core.isalpha() and core.isupper():
        return True
    parts = _JOINERS.split(core)
    return bool(parts[0]) and all(
        part.isalpha() and not any(c.isupper() for c in (part[1:] if i == 0 else part)) for i, part in enumerate(parts)
    )
