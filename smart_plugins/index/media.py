"""Image documents and queries in a :class:`~smart_plugins.index.SmartIndex`.

A document may be a text, an image reference (a path or URI, as given) or a
``{"text": ..., "image": path}`` dict. The index stores the text and the reference (under the
metadata key ``"image"``), never the pixels: a PIL image or an array as a *document* is refused
with a message saying to pass its path. Queries may be anything the encoder accepts.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from smart_plugins.encoder.inputs import validate_inputs, validate_texts

#: Metadata key under which an image document's reference is stored.
IMAGE_KEY = "image"


def _multimodal(encoder: Any) -> bool:
    return getattr(encoder, "family", "text") != "text"


def _reference(item: Any) -> str | list[str] | None:
    if isinstance(item, str):
        return None
    if isinstance(item, Mapping) and IMAGE_KEY in item:
        value = item[IMAGE_KEY]
        return [str(v) for v in value] if isinstance(value, list | tuple) else value
    return None


def document_inputs(texts: Any, encoder: Any) -> list[Any]:
    """Validate documents for ``encoder``; text-only encoders get exactly :func:`validate_texts`.

    Image documents must be references: a path / URI string (for a model that takes images), or
    a dict whose ``"image"`` is one.
    """
    if not _multimodal(encoder):
        return validate_texts(texts)
    items, kinds = validate_inputs(texts, modalities=encoder.modalities, supports=encoder.model.supports, what="texts")
    out: list[Any] = []
    for i, (item, kind) in enumerate(zip(items, kinds)):
        if kind == "message":
            raise TypeError(
                f"texts[{i}] is a chat message: the index stores a document's text and image references, not a "
                "conversation; pass the image's path, or a {'text': ..., 'image': path} dict ('image' may be a list of paths)"
            )
        if isinstance(item, str):
            out.append({IMAGE_KEY: item} if kind == "image" else item)
            continue
        image = item.get(IMAGE_KEY) if isinstance(item, Mapping) else item
        images = image if isinstance(image, list | tuple) else [image]
        if not all(isinstance(x, str | os.PathLike) for x in images):
            raise TypeError(
                f"texts[{i}] holds a {type(images[0]).__name__} image: the index stores a reference, not pixels; "
                "pass the image's path or URI (or a {'text': ..., 'image': path} dict)"
            )
        out.append(dict(item))
    return out


def encoder_inputs(items: Sequence[Any]) -> list[Any]:
    """What the encoder gets for validated documents (an image-only dict becomes its path)."""
    return [item[IMAGE_KEY] if isinstance(item, Mapping) and set(item) == {IMAGE_KEY} else item for item in items]


def stored_texts(items: Sequence[Any]) -> list[str]:
    """The text stored for each document ("" for an image without text)."""
    return [item if isinstance(item, str) else str(item.get("text") or "") for item in items]


def with_references(items: Sequence[Any], metas: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``metas`` with each image document's reference under ``"image"`` (a conflicting value is refused)."""
    out = []
    for i, (item, meta) in enumerate(zip(items, metas)):
        reference = _reference(item)
        if reference is not None:
            if IMAGE_KEY in meta and meta[IMAGE_KEY] != reference:
                raise ValueError(f"metadata[{i}] has an 'image' key ({meta[IMAGE_KEY]!r}) that differs from the document's image")
            meta = {**meta, IMAGE_KEY: reference}
        out.append(meta)
    return out


def query_inputs(query: Any, encoder: Any) -> tuple[bool, list[Any]]:
    """``(single, queries)``: one query (a str, an image, a dict) or a list of them."""
    if not _multimodal(encoder):
        return isinstance(query, str), validate_texts(query, what="query")
    single = not isinstance(query, list | tuple) or (bool(query) and isinstance(query[0], Mapping) and "role" in query[0])
    items, _ = validate_inputs([query] if single else query, modalities=encoder.modalities, supports=encoder.model.supports, what="query")
    return single, items


def corpus_document(text: str, metadata: dict[str, Any], folder: str | os.PathLike[str]) -> Any:
    """A corpus row as a document: its text, or ``{"text", "image"}`` when its metadata names an image.

    The image path is resolved against ``folder`` (a BEIR-style folder or the corpus file's
    folder) and taken out of the metadata (the index stores it back as the reference).

    Examples
    --------
    >>> meta = {"image": "pages/p1.png", "lang": "en"}
    >>> corpus_document("", meta, "/data/task")
    {'image': '/data/task/pages/p1.png'}
    >>> meta
    {'lang': 'en'}
    >>> corpus_document("caption", {}, "/data")
    'caption'
    """
    image = metadata.pop(IMAGE_KEY, None)
    if image is None:
        return text
    if not isinstance(image, str) or not image:
        raise ValueError(f"an 'image' field must be a non-empty path string, got {image!r}")
    path = image if "://" in image else os.path.join(os.fspath(folder), image)
    return {"text": text, IMAGE_KEY: path} if text.strip() else {IMAGE_KEY: path}
