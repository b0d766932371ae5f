"""What the index hands back: stored documents, search hits and token-level evidence."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class IndexedDocument:
    """A stored document: its id, text and metadata.

    Examples
    --------
    >>> IndexedDocument("a", "some text", {"lang": "en"}).metadata["lang"]
    'en'
    """

    id: str
    text: str
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SearchHit:
    """One ranked result: the document, its hybrid ``score``, its two parts, and its ``rank``.

    ``rank`` is 1-based (the best hit has rank 1), like every rank smart-plugins shows a user: the
    CLI's text and ``--json`` output and the RAGatouille facade's results. ``late`` is None when
    the late weight is 0 (no MaxSim was computed).

    Examples
    --------
    >>> hit = SearchHit(id="d1", text="t", metadata={}, score=1.5, pooled=0.7, late=0.8, rank=1)
    >>> hit.rank, hit.score
    (1, 1.5)
    """

    id: str
    text: str
    metadata: dict[str, Any]
    score: float
    pooled: float
    late: float | None
    rank: int

    def __post_init__(self) -> None:
        if self.rank < 1:
            raise ValueError(f"SearchHit.rank is 1-based (the best hit is 1), got {self.rank}")


@dataclass(frozen=True)
class TokenMatch:
    """One query token and the document token that gave its MaxSim maximum.

    Positions are indices into each text's tokenised input; ``doc_span`` is the
    ``(start, end)`` character span of the matched token in the stored document text
    (None when it cannot be recovered, e.g. for texts cut into windows).

    Examples
    --------
    >>> TokenMatch("debug", 1, "debug", 4, 0.93, (12, 17)).similarity
    0.93
    """

    query_token: str
    query_position: int
    doc_token: str
    doc_position: int
    similarity: float
    doc_span: tuple[int, int] | None = None


@dataclass(frozen=True)
class Evidence:
    """Token-level explanation of one (query, document) score.

    ``matches`` has one entry per kept query token, in query order; ``late`` is their mean
    similarity (the MaxSim score), so the matches show exactly what decided the late score.

    Examples
    --------
    >>> ev = Evidence("q", "d1", score=1.6, pooled=0.7, late=0.9, matches=[TokenMatch("q", 1, "q", 2, 0.9)])
    >>> ev.strongest(1)[0].doc_token
    'q'
    """

    query: str
    id: str
    score: float
    pooled: float
    late: float
    matches: list[TokenMatch]

    def strongest(self, n: int = 5) -> list[TokenMatch]:
        """The ``n`` matches with the highest similarity."""
        return sorted(self.matches, key=lambda m: -m.similarity)[:n]
