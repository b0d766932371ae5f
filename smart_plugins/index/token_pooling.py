"""Token pooling for storage: merge each document's most similar token vectors before they are stored.

A pool factor ``f`` keeps about ``1 / f`` of a document's token vectors: the vectors are grouped
by Ward hierarchical clustering on cosine distance into ``floor(n / f)`` clusters (at least one)
and every cluster is replaced by its mean, re-normalised (Clavié et al., 2024, "Reducing the
Footprint of Multi-Vector Retrieval with Minimal Performance Impact via Token Pooling").

The clustering is sentence-transformers 6's own
:class:`~sentence_transformers.multi_vector_encoder.modules.token_pooling.HierarchicalTokenPooling`,
called on one document's vectors at a time (``pool_one``); this module adds only what an index
needs around it:

* the factor's validation and its record with the index (``token_pooling``: in the local
  manifest, in a Qdrant index's ``smart-qdrant.json`` and a server collection's metadata), so a
  reopened index and every later add pool the same way, on every store;
* the token id and position stored with each pooled vector (evidence and highlighting read
  them): those of the document token nearest to the pooled vector (highest cosine), with the
  pooled vectors kept in text order of those tokens;
* a pass over the batches a store writes (:func:`pool_batches`; each store calls it once,
  before anything else sees the vectors). Queries are never pooled.

No token is protected from pooling (``num_protected_tokens=0``): the library's token policy
drops ``[CLS]`` and the other special tokens before they reach the index.

A factor of 1 is no pooling: the batches pass through untouched (bit-identical storage).
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import numbers
from collections.abc import Iterable, Iterator
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from smart_plugins.index.storage import IndexCorruptedError
from smart_plugins.lazy import lazy_module

if TYPE_CHECKING:
    from torch import Tensor

    from smart_plugins.encoder import EncodedTexts

torch = lazy_module("torch", globals())

#: Manifest key of the pooling record (absent: no pooling, as in indexes written before it existed).
MANIFEST_KEY = "token_pooling"
#: The one pooling method: sentence-transformers' ``HierarchicalTokenPooling`` (Ward, cosine).
METHOD = "hierarchical"


def check_pool_factor(value: Any, name: str = "token_pool_factor") -> float:
    """``value`` as a float pool factor: a finite real number >= 1 (None means 1, no pooling).

    Examples
    --------
    >>> check_pool_factor(2), check_pool_factor(None), check_pool_factor(1.5)
    (2.0, 1.0, 1.5)
    >>> check_pool_factor(0.5)
    Traceback (most recent call last):
    ...
    ValueError: token_pool_factor must be >= 1 (1 = no pooling; 2 keeps about half the token vectors), got 0.5
    >>> check_pool_factor("2")
    Traceback (most recent call last):
    ...
    TypeError: token_pool_factor must be a number >= 1, got '2' (str)
    """
    if value is None:
        return 1.0
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number >= 1, got {value!r} ({type(value).__name__})")
    factor = float(value)
    if not math.isfinite(factor):
        raise ValueError(f"{name} must be a finite number >= 1, got {value!r}")
    if factor < 1.0:
        raise ValueError(f"{name} must be >= 1 (1 = no pooling; 2 keeps about half the token vectors), got {value!r}")
    return factor


def record_pooling(manifest: dict[str, Any], factor: float) -> None:
    """Record ``factor`` in a new index's ``manifest`` (nothing is recorded for 1: no pooling).

    Examples
    --------
    >>> m = {}
    >>> record_pooling(m, 2.0); m
    {'token_pooling': {'method': 'hierarchical', 'pool_factor': 2.0}}
    """
    factor = check_pool_factor(factor)
    if factor > 1.0:
        manifest[MANIFEST_KEY] = {"method": METHOD, "pool_factor": factor}


def recorded_pool_factor(manifest: dict[str, Any], path: Path | str = "the manifest") -> float:
    """The pool factor a manifest records (1.0 when it records none).

    Raises :class:`IndexCorruptedError` naming ``path`` for a record this library cannot have
    written (unknown method, factor not a number >= 1).

    Examples
    --------
    >>> recorded_pool_factor({}), recorded_pool_factor({"token_pooling": {"method": "hierarchical", "pool_factor": 3}})
    (1.0, 3.0)
    """
    record = manifest.get(MANIFEST_KEY)
    if record is None:
        return 1.0
    if not isinstance(record, dict) or record.get("method") != METHOD:
        raise IndexCorruptedError(
            f"{path}: {MANIFEST_KEY!r} must be {{'method': {METHOD!r}, 'pool_factor': ...}}, got {record!r}; "
            "the manifest is damaged or was written by a newer smart-plugins"
        )
    try:
        return check_pool_factor(record.get("pool_factor"), f"{MANIFEST_KEY}.pool_factor")
    except (TypeError, ValueError) as exc:
        raise IndexCorruptedError(f"{path}: {exc}; the manifest is damaged or was edited by hand") from None


def check_same_factor(recorded: float, wanted: Any, where: Path | str) -> None:
    """Refuse to reuse an index pooled with ``recorded`` as if it were pooled with ``wanted``.

    Examples
    --------
    >>> check_same_factor(2.0, 2, "idx")
    >>> check_same_factor(2.0, 3, "idx")
    Traceback (most recent call last):
    ...
    ValueError: the index at idx pools token vectors with factor 2.0, not 3.0; the factor is fixed when the index is created
    """
    factor = check_pool_factor(wanted)
    if factor != recorded:
        raise ValueError(
            f"the index at {where} pools token vectors with factor {recorded}, not {factor}; "
            "the factor is fixed when the index is created"
        )


def check_reopened(index: Any, wanted: float) -> None:
    """Close ``index`` (opened by ``create(..., exist_ok=True)``) and raise if it pools otherwise."""
    try:
        check_same_factor(index.store.token_pool_factor, wanted, index.path)
    except ValueError:
        index.close()
        raise


@lru_cache(maxsize=8)
def _pooler(factor: float) -> Any:
    from sentence_transformers.multi_vector_encoder.modules.token_pooling import HierarchicalTokenPooling

    return HierarchicalTokenPooling(factor, num_protected_tokens=0, normalize_embeddings=True)


def pool_document(tokens: Tensor, factor: float) -> tuple[Tensor, Tensor]:
    """Pool one document's ``(n, D)`` unit token vectors; returns ``(pooled, nearest)``.

    ``pooled`` is ``(m, D)`` float32 with ``m = max(1, floor(n / factor))`` (fewer only on exact
    distance ties), unit vectors; ``nearest`` is ``(m,)`` int64: for each pooled vector the
    index of the input token nearest to it (highest cosine). The rows are ordered by
    ``nearest``, so they follow the text. Documents of one token (or none) come back as they are.

    Examples
    --------
    >>> import torch
    >>> x = torch.nn.functional.normalize(torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]]), dim=-1)
    >>> pooled, nearest = pool_document(x, 2.0)
    >>> pooled.shape, nearest.tolist()
    (torch.Size([2, 2]), [0, 2])
    """
    tokens = tokens.float()
    if factor <= 1.0 or len(tokens) < 2:
        return tokens, torch.arange(len(tokens), dtype=torch.int64)
    pooled = _pooler(factor).pool_one(tokens).float()
    nearest = (pooled @ tokens.T).argmax(dim=1)
    order = torch.argsort(nearest, stable=True)
    return pooled[order], nearest[order]


def pool_encoded(encoded: EncodedTexts, factor: float) -> EncodedTexts:
    """Pool every document of a batch (pooled sentence vectors unchanged); factor 1: ``encoded`` itself.

    Examples
    --------
    >>> import torch
    >>> from smart_plugins.encoder import EncodedTexts
    >>> torch.manual_seed(0) is not None
    True
    >>> docs = [torch.nn.functional.normalize(torch.randn(n, 8), dim=-1) for n in (10, 1, 7)]
    >>> enc = EncodedTexts.from_lists(torch.randn(3, 8), docs)
    >>> pool_encoded(enc, 2.0).lengths.tolist()
    [5, 1, 3]
    >>> pool_encoded(enc, 1.0) is enc
    True
    """
    factor = check_pool_factor(factor)
    if factor == 1.0 or len(encoded) == 0:
        return encoded
    offsets = encoded.offsets.tolist()
    vectors, token_ids, positions = [], [], []
    for i in range(len(encoded)):
        a, b = offsets[i], offsets[i + 1]
        pooled, nearest = pool_document(encoded.tokens[a:b], factor)
        vectors.append(pooled)
        token_ids.append(encoded.token_ids[a:b][nearest])
        positions.append(encoded.positions[a:b][nearest])
    dim = encoded.tokens.shape[1]
    lengths = torch.tensor([len(v) for v in vectors], dtype=torch.int64)
    new_offsets = torch.zeros(len(vectors) + 1, dtype=torch.int64)
    new_offsets[1:] = torch.cumsum(lengths, 0)
    return dataclasses.replace(
        encoded,
        tokens=torch.cat(vectors) if int(new_offsets[-1]) else torch.zeros(0, dim),
        offsets=new_offsets,
        token_ids=torch.cat(token_ids).to(torch.int64),
        positions=torch.cat(positions).to(torch.int64),
    )


def pool_batches(batches: Iterable[EncodedTexts], factor: float) -> Iterable[EncodedTexts]:
    """Pool each batch as a store consumes it (lazily); factor 1 returns ``batches`` untouched."""
    if check_pool_factor(factor) == 1.0:
        return batches
    return _pooled(batches, factor)


def _pooled(batches: Iterable[EncodedTexts], factor: float) -> Iterator[EncodedTexts]:
    for batch in batches:
        yield pool_encoded(batch, factor)


@contextlib.contextmanager
def writes_already_pooled(store: Any) -> Iterator[None]:
    """Inside the block, ``store`` writes token vectors as given: they were pooled by the index they come from.

    For copying one index into another of the same factor (``export_to_qdrant``): the copy records
    the factor, so later writes are pooled, but the copied vectors are not pooled a second time.
    """
    factor = store._pool_factor
    store._pool_factor = 1.0
    try:
        yield
    finally:
        store._pool_factor = factor
