"""The store boundary: what :class:`~smart_plugins.index.SmartIndex` asks of the place documents live.

``SmartIndex`` is the facade (validation, encoding, the public API); a store owns the
committed state (documents, their pooled and token vectors, the encoder description and the
default weights) and answers searches over it. Two kinds exist: the local folder
(:class:`~smart_plugins.index.local_store.LocalStore`: segments, codecs, a versioned
manifest) and Qdrant (:class:`~smart_plugins.index.qdrant_store.QdrantStore`: Qdrant Edge in
a folder, or a server collection).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from smart_plugins.encoder import EncodedTexts
from smart_plugins.index.results import IndexedDocument, SearchHit
from smart_plugins.scoring import ScoreWeights

if TYPE_CHECKING:
    from torch import Tensor

#: A metadata filter: the dict form of :mod:`smart_plugins.index.filters`, or ``metadata -> bool``.
Where = dict[str, Any] | Callable[[dict[str, Any]], bool]

#: Store kinds :meth:`SmartIndex.create` accepts.
STORE_KINDS = ("local", "qdrant-edge", "qdrant")


class ReadOnlyIndexError(PermissionError):
    """A write was attempted on an index opened with ``read_only=True``."""


def preview(values: list[str], n: int = 5) -> str:
    """``'a', 'b' (and 3 more)``: the first few of a list of ids, for error messages.

    Examples
    --------
    >>> preview(["a", "b", "c"], n=2)
    "'a', 'b' (and 1 more)"
    """
    shown = ", ".join(repr(v) for v in values[:n])
    return shown + (f" (and {len(values) - n} more)" if len(values) > n else "")


@dataclass(frozen=True)
class DocumentTokens:
    """One stored document as the late score sees it (for token-level evidence)."""

    text: str
    pooled: np.ndarray  # (pooled_dim,) unit vector
    tokens: Tensor  # (L, token_dim) as stored (decoded), float32
    token_ids: np.ndarray  # (L,)
    positions: np.ndarray  # (L,)


@runtime_checkable
class Store(Protocol):
    """What a SMART store provides. Ids are validated by the facade before they get here."""

    kind: str
    path: Path
    read_only: bool

    def encoder_description(self) -> dict[str, Any]:
        """The recorded ``SmartEncoder.describe()`` the store is bound to."""

    @property
    def token_pool_factor(self) -> float:
        """The token pool factor every write applies, as recorded at creation (1.0: no pooling;
        :mod:`smart_plugins.index.token_pooling`)."""

    def weights(self) -> ScoreWeights:
        """The default hybrid weights (as committed: another store object may have changed them)."""

    def weights_source(self) -> dict[str, Any]:
        """How the default weights were chosen: ``{"kind": "explicit"}``, or the label-free fit's record
        (``{"kind": "auto", "documents": N, ...}``, see :mod:`smart_plugins.index.default_weights`)."""

    def set_weights(self, weights: ScoreWeights, source: dict[str, Any] | None = None) -> None:
        """Commit new default weights with how they were chosen (``source``; None: explicit)."""

    def version(self) -> int:
        """A number that grows with every committed change."""

    def count(self) -> int: ...

    def contains(self, doc_id: str) -> bool: ...

    def ids(self) -> list[str]:
        """Ids of the live documents in insertion order."""

    def write(
        self,
        doc_ids: list[str],
        texts: list[str],
        metadata: list[dict[str, Any]],
        encoded: Iterable[EncodedTexts],
        *,
        replace: bool,
        chunk: bool = False,
    ) -> None:
        """Commit documents (``encoded``: their batches, in order, possibly a stream) together (all or none).

        ``replace=False`` refuses ids already stored. ``chunk``: the encoder chunks long texts
        (``truncation="chunk"``), so a store with a per-document cap (Qdrant's multivector) stores
        a longer document in chunks instead of refusing it; the local store has no cap.
        """

    def delete(self, doc_ids: list[str]) -> int:
        """Delete (unique, known) ids together; KeyError naming unknown ones."""

    def get(self, doc_ids: list[str]) -> list[IndexedDocument]: ...

    def search(
        self,
        queries: EncodedTexts,
        k: int,
        candidates: int,
        weights: ScoreWeights,
        ids: Sequence[str] | None,
        where: Where | None,
        exhaustive: bool,
    ) -> list[list[SearchHit]]:
        """Pooled top-``candidates`` then the SMART hybrid to the top ``k``, per query."""

    def rerank(self, query: EncodedTexts, doc_ids: list[str], k: int, weights: ScoreWeights) -> list[SearchHit]:
        """The SMART hybrid of one query over the given (known) ids, best first."""

    def document_tokens(self, doc_id: str) -> DocumentTokens: ...

    @property
    def compression(self) -> str:
        """How the tokens are stored (a codec name, or ``qdrant-<dtype>[+<quantisation>]``)."""

    def check_writable(self) -> None:
        """Raise unless writes are allowed (open, not ``read_only``)."""

    def compact(self, *, min_deleted_share: float = 0.0) -> dict[str, Any]:
        """Reclaim the space of deleted documents; returns a summary."""

    def build_first_stage(self) -> dict[str, Any] | None:
        """Build the pooled first-stage index now rather than at the next search."""

    def info(self) -> dict[str, Any]: ...

    def summary(self) -> str:
        """A few words for ``repr``."""

    def close(self) -> None: ...
