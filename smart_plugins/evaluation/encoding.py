"""Encode a dataset's corpus and queries through the on-disk cache."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

from smart_plugins.encoder import EncodedTexts, SmartEncoder
from smart_plugins.evaluation.cache import EncodedCache

logger = logging.getLogger(__name__)


def encoder_identity(encoder: SmartEncoder) -> dict[str, Any]:
    """What decides the vectors: ``describe()`` plus the long-text handling."""
    identity = dict(encoder.describe())
    identity["truncation"] = encoder.truncation
    if encoder.truncation == "chunk":
        identity["chunk_overlap"] = encoder.chunk_overlap
    return identity


def encode_cached(
    encoder: SmartEncoder,
    texts: Sequence[str],
    kind: str,
    cache: EncodedCache | None,
    *,
    show_progress: bool = True,
    metadata: dict[str, str] | None = None,
) -> tuple[EncodedTexts, float]:
    """Encoded ``texts`` of ``kind`` (``"query"``/``"document"``) and the seconds spent (0 on a cache hit).

    Examples
    --------
    >>> encoded, seconds = encode_cached(SmartEncoder("minilm", device="cpu"), ["hi"], "query", None)  # doctest: +SKIP
    """
    spent = [0.0]

    def run(items: list[str]) -> EncodedTexts:
        start = time.perf_counter()
        out = encoder.encode(items, kind=kind, show_progress_bar=show_progress and len(items) > 256)  # type: ignore[arg-type]
        spent[0] = time.perf_counter() - start
        return out

    if cache is None:
        return run(list(texts)), spent[0]
    encoded = cache.get_or_encode(encoder_identity(encoder), kind, texts, run, metadata)
    return encoded, spent[0]
