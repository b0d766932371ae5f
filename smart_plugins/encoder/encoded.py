"""The container one SMART forward pass produces: pooled vectors plus packed token vectors."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from smart_plugins.lazy import lazy_module

if TYPE_CHECKING:
    from torch import Tensor

torch = lazy_module("torch", globals())


@dataclass(frozen=True)
class EncodedTexts:
    """Pooled embeddings and kept token states of ``N`` texts, packed without padding.

    Token vectors of text ``i`` are ``tokens[offsets[i]:offsets[i + 1]]``; all texts share one
    flat tensor, so nothing is spent on padding and slicing is free.

    Attributes
    ----------
    pooled:
        ``(N, P)`` float32, exactly the model's own sentence embedding.
    tokens:
        ``(T, D)`` L2-normalised token vectors of the kept tokens of every text.
    offsets:
        ``(N + 1,)`` int64 boundaries into ``tokens``; ``offsets[0] == 0``.
    token_ids:
        ``(T,)`` int64 vocabulary ids of the kept tokens (for evidence and highlighting).
    positions:
        ``(T,)`` int64 position of each kept token in its text's tokenised input.

    Examples
    --------
    >>> import torch
    >>> enc = EncodedTexts.from_lists(
    ...     pooled=torch.eye(2),
    ...     token_vectors=[torch.ones(3, 4), torch.ones(1, 4)],
    ... )
    >>> len(enc), enc.lengths.tolist(), enc.token_vectors(1).shape
    (2, [3, 1], torch.Size([1, 4]))
    >>> enc.select([1]).lengths.tolist()
    [1]
    """

    pooled: Tensor
    tokens: Tensor
    offsets: Tensor
    token_ids: Tensor
    positions: Tensor

    def __post_init__(self) -> None:
        n = self.pooled.shape[0]
        if self.offsets.ndim != 1 or self.offsets.shape[0] != n + 1:
            raise ValueError(f"offsets must have shape ({n + 1},) for {n} texts, got {tuple(self.offsets.shape)}")
        total = int(self.offsets[-1]) if n else 0
        if self.tokens.ndim != 2 or self.tokens.shape[0] != total:
            raise ValueError(f"tokens must have shape ({total}, D), got {tuple(self.tokens.shape)}")
        for name in ("token_ids", "positions"):
            value = getattr(self, name)
            if value.shape != (total,):
                raise ValueError(f"{name} must have shape ({total},), got {tuple(value.shape)}")

    @classmethod
    def from_lists(
        cls,
        pooled: Tensor,
        token_vectors: Sequence[Tensor],
        token_ids: Sequence[Tensor] | None = None,
        positions: Sequence[Tensor] | None = None,
    ) -> EncodedTexts:
        """Pack per-text ``(L_i, D)`` token tensors into the flat layout."""
        lengths = torch.tensor([len(t) for t in token_vectors], dtype=torch.int64)
        offsets = torch.zeros(len(token_vectors) + 1, dtype=torch.int64)
        offsets[1:] = torch.cumsum(lengths, 0)
        dim = token_vectors[0].shape[-1] if len(token_vectors) else 0
        tokens = torch.cat(list(token_vectors)) if len(token_vectors) else torch.zeros(0, dim)
        if token_ids is None:
            ids = torch.zeros(tokens.shape[0], dtype=torch.int64)
        else:
            ids = torch.cat([torch.as_tensor(t, dtype=torch.int64) for t in token_ids])
        if positions is None:
            pos = torch.cat([torch.arange(int(n)) for n in lengths]) if len(lengths) else torch.zeros(0)
        else:
            pos = torch.cat([torch.as_tensor(p) for p in positions])
        return cls(pooled=pooled, tokens=tokens, offsets=offsets, token_ids=ids, positions=pos.to(torch.int64))

    @classmethod
    def empty(cls, pooled_dim: int, token_dim: int) -> EncodedTexts:
        """A batch of zero inputs (what encoding an empty list returns).

        Examples
        --------
        >>> e = EncodedTexts.empty(4, 3)
        >>> len(e), e.pooled.shape, e.tokens.shape
        (0, torch.Size([0, 4]), torch.Size([0, 3]))
        """
        return cls(
            pooled=torch.zeros(0, pooled_dim),
            tokens=torch.zeros(0, token_dim),
            offsets=torch.zeros(1, dtype=torch.int64),
            token_ids=torch.zeros(0, dtype=torch.int64),
            positions=torch.zeros(0, dtype=torch.int64),
        )

    @classmethod
    def concat(cls, parts: Sequence[EncodedTexts]) -> EncodedTexts:
        """Join several encoded batches, in order, into one."""
        if not parts:
            raise ValueError("concat needs at least one EncodedTexts")
        shifts = torch.tensor([0] + [int(p.offsets[-1]) for p in parts[:-1]]).cumsum(0)
        offsets = torch.cat([parts[0].offsets[:1]] + [p.offsets[1:] + s for p, s in zip(parts, shifts)])
        return cls(
            pooled=torch.cat([p.pooled for p in parts]),
            tokens=torch.cat([p.tokens for p in parts]),
            offsets=offsets,
            token_ids=torch.cat([p.token_ids for p in parts]),
            positions=torch.cat([p.positions for p in parts]),
        )

    def __len__(self) -> int:
        return int(self.pooled.shape[0])

    @property
    def lengths(self) -> Tensor:
        """Number of kept tokens per text, ``(N,)`` int64."""
        return self.offsets[1:] - self.offsets[:-1]

    @property
    def token_dim(self) -> int:
        return int(self.tokens.shape[1])

    @property
    def pooled_dim(self) -> int:
        return int(self.pooled.shape[1])

    def token_vectors(self, i: int) -> Tensor:
        """The ``(L_i, D)`` token vectors of text ``i``."""
        return self.tokens[int(self.offsets[i]) : int(self.offsets[i + 1])]

    def select(self, indices: Sequence[int] | Tensor) -> EncodedTexts:
        """A new batch holding only ``indices`` (in that order)."""
        idx = torch.as_tensor(indices, dtype=torch.int64).reshape(-1)
        starts, ends = self.offsets[:-1][idx], self.offsets[1:][idx]
        lengths = ends - starts
        gather = _ranges_to_index(starts, lengths)
        offsets = torch.zeros(len(idx) + 1, dtype=torch.int64)
        offsets[1:] = torch.cumsum(lengths, 0)
        return EncodedTexts(
            pooled=self.pooled[idx],
            tokens=self.tokens[gather.to(self.tokens.device)],
            offsets=offsets,
            token_ids=self.token_ids[gather],
            positions=self.positions[gather],
        )

    def to(self, device: str | torch.device | None = None, dtype: torch.dtype | None = None) -> EncodedTexts:
        """Move (and optionally cast) the float tensors; index tensors stay int64 on CPU."""
        return EncodedTexts(
            pooled=self.pooled.to(device=device),
            tokens=self.tokens.to(device=device, dtype=dtype),
            offsets=self.offsets,
            token_ids=self.token_ids,
            positions=self.positions,
        )


def _ranges_to_index(starts: Tensor, lengths: Tensor) -> Tensor:
    """Concatenate ``arange(start, start + length)`` for every pair, vectorised."""
    total = int(lengths.sum())
    if total == 0:
        return torch.zeros(0, dtype=torch.int64)
    segment = torch.repeat_interleave(torch.arange(len(lengths)), lengths)
    segment_start = torch.cumsum(lengths, 0) - lengths
    return starts[segment] + torch.arange(total) - segment_start[segment]
