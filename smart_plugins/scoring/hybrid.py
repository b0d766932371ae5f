"""SMART scores: pooled cosine, late interaction (MaxSim) and their weighted sum."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, Union, runtime_checkable

from smart_plugins.lazy import lazy_module
from smart_plugins.scoring.maxsim import DEFAULT_MAX_ELEMENTS, maxsim
from smart_plugins.scoring.ranking import top_k

if TYPE_CHECKING:
    from torch import Tensor

torch = lazy_module("torch", globals())
F = lazy_module("torch.nn.functional", globals(), "F")


@runtime_checkable
class PackedTokens(Protocol):
    """Anything holding packed token vectors: ``tokens (T, D)`` and ``offsets (N + 1,)``."""

    tokens: Tensor
    offsets: Tensor


TokenInput = Union[PackedTokens, Sequence["Tensor"], "Tensor"]


@dataclass(frozen=True)
class ScoreWeights:
    """λ weights of the hybrid score ``pool * pooled + late * late``.

    ``ScoreWeights(1, 1)`` is the SMART default, ``ScoreWeights(0, 1)`` late-only,
    ``ScoreWeights(1, 0)`` plain pooled retrieval.

    Examples
    --------
    >>> ScoreWeights().as_dict()
    {'pool': 1.0, 'late': 1.0}
    >>> ScoreWeights.parse("0:1")
    ScoreWeights(pool=0.0, late=1.0)
    """

    pool: float = 1.0
    late: float = 1.0

    def __post_init__(self) -> None:
        for name in ("pool", "late"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise ValueError(f"weight {name!r} must be a finite number >= 0, got {value!r}")
        if self.pool == 0 and self.late == 0:
            raise ValueError("at least one of the weights pool and late must be positive")
        object.__setattr__(self, "pool", float(self.pool))
        object.__setattr__(self, "late", float(self.late))

    @classmethod
    def parse(cls, text: str) -> ScoreWeights:
        """Read ``"POOL:LATE"`` (e.g. ``"1:1"``, ``"0.3:1"``)."""
        try:
            pool, late = (float(part) for part in text.split(":"))
        except ValueError:
            raise ValueError(f"weights must look like POOL:LATE (e.g. 1:1), got {text!r}") from None
        return cls(pool, late)

    @classmethod
    def from_late_share(cls, late_share: float) -> ScoreWeights:
        """λ with ``late / (pool + late) = late_share``, scaled so the larger weight is 1.

        Examples
        --------
        >>> ScoreWeights.from_late_share(0.5), ScoreWeights.from_late_share(0.8)
        (ScoreWeights(pool=1.0, late=1.0), ScoreWeights(pool=0.25, late=1.0))
        """
        if not isinstance(late_share, (int, float)) or not 0 <= late_share <= 1:
            raise ValueError(f"a late share must be a number in [0, 1], got {late_share!r}")
        pool, late = 1 - late_share, late_share
        top = max(pool, late)
        return cls(round(pool / top, 12), round(late / top, 12))

    def as_dict(self) -> dict[str, float]:
        return {"pool": self.pool, "late": self.late}

    def combine(self, pooled: Any, late: Any | None) -> Any:
        """The SMART hybrid ``pool * pooled + late * late``: the one place the library writes it.

        Works on floats, numpy arrays and tensors alike; ``late=None`` (late weight 0, no
        MaxSim computed) gives the pooled part alone.

        Examples
        --------
        >>> ScoreWeights(0.5, 1.0).combine(0.8, 0.6)
        1.0
        >>> ScoreWeights(1.0, 0.0).combine(0.8, None)
        0.8
        """
        out = self.pool * pooled
        return out if late is None else out + self.late * late

    @property
    def uses_late(self) -> bool:
        return self.late > 0

    @property
    def uses_pooled(self) -> bool:
        return self.pool > 0


@dataclass(frozen=True)
class SmartScores:
    """``(Q, N)`` pooled, late and hybrid score matrices (``late`` is None when not computed)."""

    pooled: Tensor
    late: Tensor | None
    hybrid: Tensor
    weights: ScoreWeights

    def for_query(self, q: int) -> dict[str, Tensor | None]:
        """The three score rows of query ``q``."""
        return {
            "pooled": self.pooled[q],
            "late": None if self.late is None else self.late[q],
            "hybrid": self.hybrid[q],
        }


def pooled_scores(query_pooled: Tensor, doc_pooled: Tensor) -> Tensor:
    """``(Q, N)`` cosine similarities of pooled embeddings (any dtype, returned float32).

    Examples
    --------
    >>> pooled_scores(torch.tensor([[2.0, 0.0]]), torch.tensor([[1.0, 1.0], [0.0, 3.0]]))
    tensor([[0.7071, 0.0000]])
    """
    q = _as_matrix(query_pooled, "query pooled")
    d = _as_matrix(doc_pooled, "document pooled")
    if q.shape[1] != d.shape[1]:
        raise ValueError(f"pooled dimensions differ: {q.shape[1]} vs {d.shape[1]}")
    q = F.normalize(q.float(), dim=-1).to(d.device)
    return q @ F.normalize(d.float(), dim=-1).T


def late_scores(queries: TokenInput, docs: TokenInput, **kwargs: Any) -> Tensor:
    """``(Q, N)`` late-interaction scores; accepts packed tokens or lists of ``(L, D)`` tensors.

    A single 2-D tensor counts as one text. Keyword arguments go to :func:`maxsim`.

    Examples
    --------
    >>> q = [torch.tensor([[1.0, 0.0]])]
    >>> late_scores(q, [torch.tensor([[0.0, 1.0], [1.0, 0.0]])])
    tensor([[1.]])
    """
    q_tokens, q_offsets = pack_tokens(queries)
    d_tokens, d_offsets = pack_tokens(docs)
    return maxsim(q_tokens, q_offsets, d_tokens, d_offsets, **kwargs)


def smart_scores(
    queries: Any,
    docs: Any,
    weights: ScoreWeights | None = None,
    *,
    max_elements: int = DEFAULT_MAX_ELEMENTS,
) -> SmartScores:
    """Pooled, late and hybrid scores of encoded queries against encoded documents.

    ``queries`` and ``docs`` are :class:`~smart_plugins.encoder.EncodedTexts` (or anything
    with ``pooled``, ``tokens`` and ``offsets``). The late score is skipped when its weight is 0.
    """
    weights = weights or ScoreWeights()
    pooled = pooled_scores(queries.pooled, docs.pooled)
    late = None
    if weights.uses_late:
        late = late_scores(queries, docs, max_elements=max_elements).to(pooled.device)
    hybrid = weights.combine(pooled, late)
    return SmartScores(pooled=pooled, late=late, hybrid=hybrid, weights=weights)


class SmartScorer:
    """Scores and ranks candidates with fixed weights: the object form of :func:`smart_scores`.

    Examples
    --------
    >>> import torch
    >>> from smart_plugins.encoder import EncodedTexts
    >>> docs = EncodedTexts.from_lists(torch.eye(2), [torch.eye(2)[:1], torch.eye(2)[1:]])
    >>> query = docs.select([1])
    >>> scorer = SmartScorer(ScoreWeights(pool=1.0, late=1.0))
    >>> scorer.rank(query, docs, k=2)
    [[(1, 2.0), (0, 0.0)]]
    """

    def __init__(self, weights: ScoreWeights | None = None, *, max_elements: int = DEFAULT_MAX_ELEMENTS) -> None:
        self.weights = weights or ScoreWeights()
        self.max_elements = max_elements

    def score(self, queries: Any, docs: Any) -> SmartScores:
        return smart_scores(queries, docs, self.weights, max_elements=self.max_elements)

    def rank(self, queries: Any, docs: Any, k: int = 10) -> list[list[tuple[int, float]]]:
        """Top-``k`` ``(document index, hybrid score)`` per query, best first."""
        if k <= 0:
            raise ValueError(f"k must be positive, got {k}")
        hybrid = self.score(queries, docs).hybrid
        if hybrid.shape[1] == 0:
            return [[] for _ in range(hybrid.shape[0])]
        values, indices = top_k(hybrid, k)
        return [[(int(i), float(s)) for i, s in zip(idx, val)] for idx, val in zip(indices, values)]


def pack_tokens(texts: TokenInput) -> tuple[Tensor, Tensor]:
    """Return ``(tokens, offsets)`` for packed input, a list of 2-D tensors, or one 2-D tensor."""
    if isinstance(texts, PackedTokens):
        return texts.tokens, texts.offsets
    if isinstance(texts, torch.Tensor):
        if texts.ndim != 2:
            raise ValueError(f"a token tensor must be 2-D (tokens, dim); got shape {tuple(texts.shape)}")
        return texts, torch.tensor([0, texts.shape[0]])
    parts = [torch.as_tensor(t) for t in texts]
    for i, part in enumerate(parts):
        if part.ndim != 2:
            raise ValueError(f"token tensor {i} must be 2-D (tokens, dim); got shape {tuple(part.shape)}")
    offsets = torch.zeros(len(parts) + 1, dtype=torch.int64)
    offsets[1:] = torch.cumsum(torch.tensor([len(p) for p in parts], dtype=torch.int64), 0)
    if not parts:
        return torch.zeros(0, 0), offsets
    return torch.cat(parts), offsets


def _as_matrix(x: Tensor, what: str) -> Tensor:
    x = torch.as_tensor(x)
    if x.ndim == 1:
        x = x.unsqueeze(0)
    if x.ndim != 2:
        raise ValueError(f"{what} embeddings must be 1-D or 2-D, got shape {tuple(x.shape)}")
    return x
