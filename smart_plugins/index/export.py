"""Copy a local SMART index into Qdrant without re-encoding (the stored codes are decoded)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from smart_plugins.index.local_store import LocalStore
from smart_plugins.index.smart_index import SmartIndex
from smart_plugins.index.token_pooling import writes_already_pooled


def export_to_qdrant(
    source: SmartIndex,
    target: str | Path | None,
    *,
    url: str | None = None,
    collection: str | None = None,
    client: Any = None,
    chunk: int = 4096,
    **options: Any,
) -> SmartIndex:
    """Copy every live document of a local index into a new Qdrant-backed index.

    Parameters
    ----------
    source:
        An open local :class:`SmartIndex`.
    target:
        The new index folder (None: a temporary one).
    url, collection, client:
        None for Qdrant Edge (its shard inside ``target``); otherwise the Qdrant server
        collection to create (see :func:`smart_plugins.index.qdrant_store.create_store`).
    chunk:
        Documents per Qdrant write (each write is all-or-nothing).
    options:
        ``token_dtype``, ``quantization``, ``oversampling`` of the Qdrant store.

    The tokens written are the source codec's reconstruction (exact for ``fp32``, within fp16
    rounding for ``fp16``, the codec's approximation otherwise): the copy scores as the source
    does, up to Qdrant's storage type. Ids keep their insertion order; the encoder description,
    the token pool factor and default weights carry over, with how they were chosen
    (``weights_source``). A pooled source's vectors are copied as stored (not pooled again); later
    writes to the copy are pooled with the same factor.

    Examples
    --------
    >>> with SmartIndex.create(None, "minilm", compression="fp16") as local:
    ...     _ = local.add(["Debug symbols for libfoo.", "Documentation for libfoo."], ids=["dbg", "doc"])
    ...     with export_to_qdrant(local, None) as copy:
    ...         copy.ids(), copy.search("libfoo debugging", k=1)[0].id
    (['dbg', 'doc'], 'dbg')
    """
    store = source.store
    if not isinstance(store, LocalStore):
        raise TypeError(f"export_to_qdrant copies a local index; this one uses {store.kind!r}")
    if isinstance(chunk, bool) or not isinstance(chunk, int) or chunk <= 0:
        raise ValueError(f"chunk must be a positive integer, got {chunk!r}")
    server = url is not None or client is not None
    store_options = dict(options)
    if server:
        store_options.update(url=url, collection=collection, client=client)
    elif collection is not None:
        raise ValueError("collection= names a server collection; give url= (or client=) too, or neither for Qdrant Edge")
    copy = SmartIndex.create(
        None if target is None else Path(target),
        source._encoder or _Recorded(store.encoder_description()),
        weights=source.weights,
        store="qdrant" if server else "qdrant-edge",
        store_options=store_options,
        token_pool_factor=store.token_pool_factor,
    )
    try:
        with writes_already_pooled(copy.store):  # the source's stored vectors are pooled already
            for ids, texts, metas, encoded in store.iterate(chunk):
                copy.add_encoded(encoded, texts, ids=ids, metadata=metas)
        source_of_weights = store.weights_source()
        if source_of_weights.get("kind") != "explicit":  # a fitted default stays fitted (and refits as the copy grows)
            copy.store.set_weights(source.weights, source=source_of_weights)
        copy.build_first_stage()
    except BaseException:
        copy.close()
        raise
    if isinstance(copy._encoder, _Recorded):
        copy._encoder = None  # rebuilt from the recorded description at first search
    return copy


class _Recorded:
    """Stands for the source's encoder by its description (exporting needs no model)."""

    #: the source holds whatever its encoder produced: a document over Qdrant's cap is copied in chunks
    truncation = "chunk"

    def __init__(self, description: dict[str, Any]) -> None:
        self._description = description
        self.token_dim = int(description["token_dim"])

    def describe(self) -> dict[str, Any]:
        return dict(self._description)

    def encode_queries(self, texts: Any) -> Any:  # pragma: no cover - never called while exporting
        raise RuntimeError("open the exported index with its encoder to search it")

    encode_documents = encode_queries
