"""Where an adapter's documents live: an open SmartIndex, an index folder, or plain texts.

Imports the index lazily so the rerank-only adapters work without it.

Examples
--------
>>> resolve_index()
Traceback (most recent call last):
...
ValueError: pass one of index=, index_path= or texts= (documents to index)
"""

from __future__ import annotations

import contextvars
import shutil
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from smart_plugins.integrations._common import as_encoder

# Temporary indexes built by resolve_index from texts, not yet owned by an adapter.
_BUILT: weakref.WeakSet[Any] = weakref.WeakSet()
# Temporary indexes built inside the innermost ``closing_on_error`` block (an adapter's constructor).
_PENDING: contextvars.ContextVar[list[Any] | None] = contextvars.ContextVar("smart_plugins_pending", default=None)


def resolve_index(
    *,
    index: Any = None,
    index_path: str | Path | None = None,
    texts: Sequence[str] | None = None,
    metadatas: Sequence[dict[str, Any]] | None = None,
    ids: Sequence[str] | None = None,
    encoder: Any = None,
    read_only: bool = False,
    options: dict[str, Any] | None = None,
) -> Any:
    """Return a ``SmartIndex``: the one given, the one at ``index_path``, or a temporary one over ``texts``.

    A temporary index (``texts=``, possibly empty) lives in a temp folder removed when the index is
    closed or collected; ``options`` go to ``SmartIndex.create`` (``compression``, ``weights``).
    """
    given = [name for name, value in (("index", index), ("index_path", index_path), ("texts", texts)) if value is not None]
    if len(given) > 1:
        raise ValueError(f"pass only one of index=, index_path= or texts=, got {', '.join(given)}")
    if not given:
        raise ValueError("pass one of index=, index_path= or texts= (documents to index)")
    from smart_plugins.index import SmartIndex

    if index is not None:
        if not isinstance(index, SmartIndex):
            raise TypeError(f"index must be a smart_plugins SmartIndex, got {type(index).__name__}")
        return index
    if index_path is not None:
        return SmartIndex.open(index_path, None if encoder is None else as_encoder(encoder), read_only=read_only)
    if isinstance(texts, str):
        raise TypeError("texts must be a list of strings, not one string")
    built = new_temporary_index(as_encoder(encoder if encoder is not None else "minilm"), **(options or {}))
    try:
        texts = list(texts)
        if getattr(built.encoder, "family", "text") != "text" and metadatas is not None:  # image path in metadata
            from smart_plugins.index.media import corpus_document

            metadatas = [dict(m or {}) for m in metadatas]
            texts = [corpus_document(t, m, "") for t, m in zip(texts, metadatas)]
        if texts or ids or metadatas:  # no texts: an empty index (searches return no hits)
            built.add(texts, ids=None if ids is None else list(ids), metadata=None if metadatas is None else list(metadatas))
    except BaseException:
        built.close()  # a failed build leaves no temporary folder behind
        raise
    return built


def new_temporary_index(encoder: Any, **options: Any) -> Any:
    """An empty ``SmartIndex`` in a temp folder that is removed on close, on garbage collection, or when
    the adapter constructor building it fails (see :func:`closing_on_error`)."""
    from smart_plugins.index import SmartIndex

    built = SmartIndex.create(None, encoder, **options)
    weakref.finalize(built, shutil.rmtree, str(built.path), ignore_errors=True)
    _BUILT.add(built)
    pending = _PENDING.get()
    if pending is not None:
        pending.append(built)
    return built


@contextmanager
def closing_on_error() -> Iterator[None]:
    """Close (and so remove) the temporary indexes built inside the block if the block raises.

    Wrap an adapter's constructor in it: a constructor that fails after building its index
    leaves nothing in the temp folder.
    """
    token = _PENDING.set([])
    try:
        yield
    except BaseException:
        for index in _PENDING.get() or []:
            index.close()
        raise
    finally:
        _PENDING.reset(token)


def close_if_owned(index: Any) -> None:
    """Close ``index`` when it is a temporary index an adapter built (never one the caller opened)."""
    if index is not None and is_temporary(index) and getattr(index, "_smart_owned", False):
        index.close()


def is_temporary(index: Any) -> bool:
    """Whether ``index`` lives in a temporary folder removed on close (built from texts)."""
    return bool(getattr(index, "temporary", False) or getattr(index, "_temporary", False))


def tie_lifetime(owner: Any, index: Any) -> None:
    """Close a temporary ``index`` built here (removing its folder) once ``owner`` is garbage-collected.

    Indexes the caller opened or created are never closed by an adapter.
    """
    if index in _BUILT and is_temporary(index):
        _BUILT.discard(index)
        index._smart_owned = True
        weakref.finalize(owner, index.close)


def open_or_create_index(
    model: Any,
    index: Any = None,
    index_path: str | Path | None = None,
    *,
    compression: str | None = None,
    weights: Any = None,
) -> Any:
    """The index of a vector store: the one given, the one at ``index_path`` (created there when the
    folder holds none), or a new temporary one. ``compression`` and ``weights`` (a ``ScoreWeights``
    or None) shape a new index; ``compression`` is refused for an existing one."""
    from smart_plugins.index import SmartIndex
    from smart_plugins.index.manifest import MANIFEST_NAME

    options: dict[str, Any] = {"compression": compression} if compression else {}
    if weights is not None:
        options["weights"] = weights
    if index is not None or (index_path is not None and (Path(index_path) / MANIFEST_NAME).exists()):
        if compression:
            raise ValueError("compression= applies to a new index; this one exists already")
        return resolve_index(index=index, index_path=index_path, encoder=model)
    encoder = as_encoder(model if model is not None else "minilm")
    if index_path is not None:
        return SmartIndex.create(index_path, encoder, **options)
    return resolve_index(texts=[], encoder=encoder, options=options)


def reject_extra(owner: str, kwargs: dict[str, Any]) -> None:
    """Raise TypeError naming keyword arguments a method does not take (none is dropped silently)."""
    if kwargs:
        raise TypeError(f"{owner} got unexpected keyword argument(s) {sorted(kwargs)}")


def hit_scores(hit: Any) -> dict[str, Any]:
    """The score fields of a ``SearchHit`` as metadata entries."""
    return {"relevance_score": float(hit.score), "smart_pooled": float(hit.pooled), "smart_late": _maybe_float(hit.late)}


def _maybe_float(value: Any) -> float | None:
    return None if value is None else float(value)
