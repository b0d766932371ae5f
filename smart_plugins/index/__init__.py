"""Persistent SMART index: memory-mapped pooled + compressed token vectors, two-stage search.

Modules: ``storage`` (atomic, checksummed files), ``manifest`` (the versioned commit point),
``segment`` (immutable batches of documents), ``codecs`` (token compression), ``first_stage``
(pooled candidates), ``evidence`` (token-level explanations), ``smart_index`` (the API, a facade
over a store: ``store`` the boundary, ``local_store`` + ``search`` the folder store, ``qdrant_store``
Qdrant Edge / a Qdrant server; see docs/scale-out.md).

>>> from smart_plugins.index import make_codec
>>> make_codec("fp16", dim=384).bytes_per_token
768
"""

from smart_plugins.index.codecs import (
    CODEC_NAMES,
    ResidualCodec,
    TokenCodec,
    make_codec,
)
from smart_plugins.index.local_store import LocalStore
from smart_plugins.index.locking import DEFAULT_LOCK_TIMEOUT, IndexLockedError
from smart_plugins.index.qdrant_store import QdrantStore
from smart_plugins.index.results import Evidence, IndexedDocument, SearchHit, TokenMatch
from smart_plugins.index.smart_index import (
    DEFAULT_COMPRESSION,
    ReadOnlyIndexError,
    SmartIndex,
)
from smart_plugins.index.storage import IndexCorruptedError
from smart_plugins.index.store import Store

__all__ = [
    "CODEC_NAMES",
    "DEFAULT_COMPRESSION",
    "DEFAULT_LOCK_TIMEOUT",
    "Evidence",
    "IndexCorruptedError",
    "IndexLockedError",
    "IndexedDocument",
    "LocalStore",
    "QdrantStore",
    "ReadOnlyIndexError",
    "ResidualCodec",
    "SearchHit",
    "SmartIndex",
    "Store",
    "TokenCodec",
    "TokenMatch",
    "make_codec",
]
