"""Validation of the inputs handed to the encoder: clear errors that name the bad position.

Texts are checked here; images, ``{"text", "image"}`` dicts and chat-style messages are
classified with sentence-transformers' own :func:`~sentence_transformers.base.modality.infer_modality`
and checked against the loaded model's modalities, so anything sentence-transformers 6 accepts
for that model is accepted and anything else is refused before a forward pass.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

#: What a text-only model accepts, for error messages.
TEXT_ONLY = ("text",)


def _as_list(inputs: Any, what: str) -> list[Any]:
    if isinstance(inputs, str | Mapping | os.PathLike):
        return [inputs]
    if isinstance(inputs, bytes | bytearray | memoryview):
        raise TypeError(f"{what} is {type(inputs).__name__}; decode it to a str first (e.g. data.decode('utf-8'))")
    if _is_single_media(inputs):
        return [inputs]
    if inputs is None or not isinstance(inputs, Sequence):
        try:
            return list(inputs)
        except TypeError:
            raise TypeError(
                f"{what} must be a string or a sequence of strings (or of images / dicts on a multimodal model), got {type(inputs).__name__}"
            ) from None
    return list(inputs)


def _is_single_media(value: Any) -> bool:
    """A lone PIL image or a 3-D array (an image), which is one input, not a sequence of inputs."""
    try:
        from PIL.Image import Image as PILImage
    except ImportError:  # pragma: no cover - pillow ships with sentence-transformers' image extra
        PILImage = None  # type: ignore[assignment]  # noqa: N806
    if PILImage is not None and isinstance(value, PILImage):
        return True
    return getattr(value, "ndim", None) == 3 and hasattr(value, "shape")


def _check_text(text: str, position: str) -> None:
    if not text.strip():
        raise ValueError(f"{position} is an empty or whitespace-only string; SMART cannot encode it")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as err:
        raise ValueError(
            f"{position} holds a lone surrogate {text[err.start]!r} at character {err.start}; "
            "it is not valid Unicode text (decode the source with errors='replace' or fix it)"
        ) from None


def validate_texts(texts: Any, *, what: str = "texts") -> list[str]:
    """Return ``texts`` as a list of non-empty strings, or raise naming the first bad item.

    Examples
    --------
    >>> validate_texts("one text")
    ['one text']
    >>> validate_texts([])
    []
    >>> validate_texts(["ok", ""])
    Traceback (most recent call last):
    ...
    ValueError: texts[1] is an empty or whitespace-only string; SMART cannot encode it
    >>> validate_texts(b"x")
    Traceback (most recent call last):
    ...
    TypeError: texts is bytes; decode it to a str first (e.g. data.decode('utf-8'))
    """
    out = _as_list(texts, what)
    for i, text in enumerate(out):
        if text is None:
            raise TypeError(f"{what}[{i}] is None; expected a string")
        if isinstance(text, bytes | bytearray):
            raise TypeError(f"{what}[{i}] is {type(text).__name__}; decode it to a str first")
        if not isinstance(text, str):
            raise TypeError(f"{what}[{i}] is {type(text).__name__} ({text!r:.60}); expected a string")
        _check_text(text, f"{what}[{i}]")
    return out


def validate_inputs(
    inputs: Any, *, modalities: Sequence[Any] = TEXT_ONLY, supports: Any = None, what: str = "inputs"
) -> tuple[list[Any], list[Any]]:
    """Return ``(items, modality of each item)``, or raise naming the first input the model can't take.

    ``modalities`` is the model's list (``SentenceTransformer.modalities``); ``supports`` its
    ``supports(modality)`` check (combined ``("image", "text")`` inputs need the message format).
    A text-only model gets exactly :func:`validate_texts`' checks.

    Examples
    --------
    >>> validate_inputs(["a", "b"])
    (['a', 'b'], ['text', 'text'])
    >>> validate_inputs({"a": 1})
    Traceback (most recent call last):
    ...
    TypeError: inputs[0] is a dict with keys ['a']; this model takes text only (a dict is accepted only as {"text": ..., "image": ...} on a multimodal model)
    """
    if tuple(modalities) == TEXT_ONLY:
        items = _as_list(inputs, what)
        for i, item in enumerate(items):
            if isinstance(item, Mapping):
                raise TypeError(
                    f"{what}[{i}] is a dict with keys {sorted(map(str, item))[:8]}; this model takes text only "
                    '(a dict is accepted only as {"text": ..., "image": ...} on a multimodal model)'
                )
            if item is not None and not isinstance(item, str | bytes | bytearray):
                kind = type(item).__name__
                if _is_single_media(item) or kind in ("Image", "ndarray", "Tensor"):
                    raise TypeError(
                        f"{what}[{i}] is {kind} (an image?); this model's modalities are ['text']: "
                        "load a multimodal model (e.g. a CLIP or a vision-language embedder) to encode images"
                    )
        return validate_texts(items, what=what), ["text"] * len(items)
    from sentence_transformers.base.modality import format_modality, infer_modality

    items = [os.fspath(i) if isinstance(i, os.PathLike) else i for i in _as_list(inputs, what)]
    kinds: list[Any] = []
    shown = ", ".join(format_modality(m) for m in modalities)
    for i, item in enumerate(items):
        position = f"{what}[{i}]"
        if item is None:
            raise TypeError(f"{position} is None; the model takes: {shown}")
        if isinstance(item, bytes | bytearray):
            raise TypeError(f"{position} is {type(item).__name__}; pass a str, a path or a PIL image (the model takes: {shown})")
        if isinstance(item, str):
            _check_text(item, position)
        try:
            modality = infer_modality(item, supported_modalities=list(modalities))
        except (ValueError, TypeError) as err:
            raise TypeError(f"{position} cannot be encoded: {err} (the model takes: {shown})") from None
        if isinstance(item, Mapping) and isinstance(item.get("text"), str):
            _check_text(item["text"], f"{position}['text']")
        ok = supports(modality) if supports is not None else modality in modalities
        if not ok:
            raise ValueError(
                f"{position} is {format_modality(modality)} input, which this model cannot encode; "
                f"its modalities are: {shown}"
            )
        kinds.append(modality)
    return items, kinds
