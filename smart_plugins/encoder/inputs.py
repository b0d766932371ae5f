"""Validation of the texts handed to the encoder: clear errors that name the bad position."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def validate_texts(texts: Any, *, what: str = "texts") -> list[str]:
    """Return ``texts`` as a list of non-empty strings, or raise naming the first bad item.

    Examples
    --------
    >>> validate_texts("one text")
    ['one text']
    >>> validate_texts(["ok", ""])
    Traceback (most recent call last):
    ...
    ValueError: texts[1] is an empty or whitespace-only string; SMART cannot encode it
    """
    if isinstance(texts, str):
        texts = [texts]
    elif texts is None or not isinstance(texts, Sequence):
        try:
            texts = list(texts)
        except TypeError:
            raise TypeError(f"{what} must be a string or a sequence of strings, got {type(texts).__name__}") from None
    out = list(texts)
    for i, text in enumerate(out):
        if text is None:
            raise TypeError(f"{what}[{i}] is None; expected a string")
        if not isinstance(text, str):
            raise TypeError(f"{what}[{i}] is {type(text).__name__} ({text!r:.60}); expected a string")
        if not text.strip():
            raise ValueError(f"{what}[{i}] is an empty or whitespace-only string; SMART cannot encode it")
    return out
