"""Cache of the frozen backbone's outputs, so adapter epochs cost no backbone forward pass.

The frozen model is run once over every distinct training text; its pooled vectors and kept
token states (unit vectors, exactly what :class:`~smart_plugins.encoder.SmartEncoder` gives)
are kept packed, optionally on disk (safetensors, written atomically, keyed by a fingerprint of
the encoder's identity and the texts so a stale file is never reused).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import Tensor

from smart_plugins.atomic import atomic_output
from smart_plugins.encoder import EncodedTexts, SmartEncoder

logger = logging.getLogger(__name__)

_FIELDS = ("pooled", "tokens", "offsets", "token_ids", "positions")


@dataclass
class TokenStateCache:
    """Backbone outputs of the distinct query and document texts of a training set.

    Attributes
    ----------
    queries, docs:
        :class:`~smart_plugins.encoder.EncodedTexts` of the query / document texts.
    query_index, doc_index:
        Text -> row in ``queries`` / ``docs``.
    fingerprint:
        SHA-256 of the encoder's ``describe()`` and the texts.

    Examples
    --------
    >>> import torch
    >>> from smart_plugins.encoder import EncodedTexts
    >>> enc = EncodedTexts.from_lists(torch.eye(2), [torch.eye(2), torch.eye(2)[:1]])
    >>> cache = TokenStateCache.from_encoded(["q1", "q2"], enc, ["d1", "d2"], enc)
    >>> cache.doc_rows(["d2"]).lengths.tolist()
    [1]
    """

    queries: EncodedTexts
    docs: EncodedTexts
    query_index: dict[str, int]
    doc_index: dict[str, int]
    fingerprint: str = ""

    @classmethod
    def from_encoded(
        cls, query_texts: Sequence[str], queries: EncodedTexts, doc_texts: Sequence[str], docs: EncodedTexts,
        fingerprint: str = "",
    ) -> TokenStateCache:
        if len(query_texts) != len(queries) or len(doc_texts) != len(docs):
            raise ValueError("the number of texts and of encoded rows differ")
        return cls(
            queries=queries,
            docs=docs,
            query_index={t: i for i, t in enumerate(query_texts)},
            doc_index={t: i for i, t in enumerate(doc_texts)},
            fingerprint=fingerprint,
        )

    @classmethod
    def build(
        cls,
        encoder: SmartEncoder,
        query_texts: Sequence[str],
        doc_texts: Sequence[str],
        *,
        path: str | Path | None = None,
        storage_dtype: torch.dtype = torch.float16,
        show_progress_bar: bool | None = None,
    ) -> TokenStateCache:
        """Encode the texts once with the frozen ``encoder`` (or reuse a matching file at ``path``).

        The encoder must not carry a token adapter: the cache holds the backbone's own states.
        ``storage_dtype`` is how token vectors are kept (float16 halves memory; training
        upcasts each batch to float32).
        """
        if encoder.describe().get("adapter") is not None:
            raise ValueError("the state cache needs the base model's token states; this encoder already has an adapter")
        query_texts, doc_texts = list(query_texts), list(doc_texts)
        fingerprint = cache_fingerprint(encoder, query_texts, doc_texts, storage_dtype)
        if path is not None and Path(path).is_file():
            cached = cls.load(path, query_texts, doc_texts)
            if cached.fingerprint == fingerprint:
                logger.info("reusing cached backbone states from %s", path)
                return cached
            logger.info("cache file %s belongs to other texts or another model: re-encoding", path)
        queries = encoder.encode_queries(query_texts, show_progress_bar=show_progress_bar)
        docs = encoder.encode_documents(doc_texts, show_progress_bar=show_progress_bar)
        cache = cls.from_encoded(
            query_texts, queries.to(dtype=storage_dtype), doc_texts, docs.to(dtype=storage_dtype), fingerprint
        )
        if path is not None:
            cache.save(path)
        return cache

    def query_rows(self, texts: Sequence[str]) -> EncodedTexts:
        """Cached outputs of these query texts, in order."""
        return self.queries.select(_rows(self.query_index, texts, "query"))

    def doc_rows(self, texts: Sequence[str]) -> EncodedTexts:
        """Cached outputs of these document texts, in order."""
        return self.docs.select(_rows(self.doc_index, texts, "document"))

    @property
    def nbytes(self) -> int:
        return sum(int(getattr(e, f).nbytes) for e in (self.queries, self.docs) for f in _FIELDS)

    def save(self, path: str | Path) -> None:
        """Write the cache atomically (temporary file in the same folder, then rename)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tensors = {f"{side}.{f}": getattr(enc, f).contiguous() for side, enc in (("q", self.queries), ("d", self.docs)) for f in _FIELDS}
        with atomic_output(path) as tmp:
            save_file(tensors, str(tmp), metadata={"fingerprint": self.fingerprint})

    @classmethod
    def load(cls, path: str | Path, query_texts: Sequence[str], doc_texts: Sequence[str]) -> TokenStateCache:
        """Read a cache written by :meth:`save` for these texts (the caller checks the fingerprint)."""
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as handle:
            fingerprint = (handle.metadata() or {}).get("fingerprint", "")
        tensors = load_file(str(path))
        sides = {side: EncodedTexts(**{f: tensors[f"{side}.{f}"] for f in _FIELDS}) for side in ("q", "d")}
        if len(sides["q"]) != len(query_texts) or len(sides["d"]) != len(doc_texts):
            return cls(sides["q"], sides["d"], {}, {}, fingerprint="")
        return cls.from_encoded(query_texts, sides["q"], doc_texts, sides["d"], fingerprint)


def cache_fingerprint(
    encoder: SmartEncoder, query_texts: Sequence[str], doc_texts: Sequence[str], storage_dtype: torch.dtype
) -> str:
    """SHA-256 of the encoder identity, the storage dtype and every text (in order)."""
    digest = hashlib.sha256(json.dumps(encoder.describe(), sort_keys=True, default=str).encode())
    digest.update(str(storage_dtype).encode())
    for side, texts in (("q", query_texts), ("d", doc_texts)):
        digest.update(f"{side}:{len(texts)}".encode())
        for text in texts:
            digest.update(hashlib.sha256(text.encode()).digest())
    return digest.hexdigest()


def _rows(index: dict[str, int], texts: Sequence[str], what: str) -> Tensor:
    try:
        return torch.tensor([index[t] for t in texts], dtype=torch.int64)
    except KeyError as exc:
        raise KeyError(f"{what} text {str(exc.args[0])[:60]!r} is not in the state cache") from None
