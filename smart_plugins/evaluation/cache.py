"""On-disk cache of encoded texts (safetensors), so re-runs with other modes or λ skip encoding.

The key hashes the encoder's identity (``SmartEncoder.describe()``, which holds the model, its
pooling and the token policy), the encoding settings, the text kind and the exact texts; the
dataset file hash is recorded alongside for humans.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from filelock import FileLock
from safetensors.torch import load_file, save_file

from smart_plugins.atomic import atomic_output
from smart_plugins.encoder import EncodedTexts

logger = logging.getLogger(__name__)

_TENSORS = ("pooled", "tokens", "offsets", "token_ids", "positions")


def default_cache_dir() -> Path:
    """``$SMART_PLUGINS_CACHE/encoded`` (default ``~/.cache/smart-plugins/encoded``)."""
    base = os.environ.get("SMART_PLUGINS_CACHE", str(Path.home() / ".cache" / "smart-plugins"))
    return Path(base) / "encoded"


def cache_key(identity: dict[str, Any], kind: str, texts: Sequence[str]) -> str:
    """Hex key of (encoder identity, text kind, texts)."""
    digest = hashlib.sha256()
    digest.update(json.dumps(identity, sort_keys=True, default=str).encode())
    digest.update(kind.encode() + b"\0")
    for text in texts:
        digest.update(text.encode("utf-8", "surrogatepass") + b"\0")
    return digest.hexdigest()[:32]


class EncodedCache:
    """A folder of ``<key>.safetensors`` files holding :class:`EncodedTexts`.

    Parameters
    ----------
    folder:
        Where files live; ``None`` uses :func:`default_cache_dir`.

    Examples
    --------
    >>> import tempfile, torch
    >>> cache = EncodedCache(tempfile.mkdtemp())
    >>> enc = EncodedTexts.from_lists(torch.eye(2), [torch.ones(2, 3), torch.ones(1, 3)])
    >>> calls = []
    >>> def encode(texts):
    ...     calls.append(texts)
    ...     return enc
    >>> a = cache.get_or_encode({"model": "m"}, "document", ["x", "y"], encode)
    >>> b = cache.get_or_encode({"model": "m"}, "document", ["x", "y"], encode)
    >>> len(calls), torch.equal(a.tokens, b.tokens)
    (1, True)
    """

    def __init__(self, folder: str | Path | None = None) -> None:
        self.folder = Path(folder) if folder is not None else default_cache_dir()

    def path(self, key: str) -> Path:
        return self.folder / f"{key}.safetensors"

    def load(self, key: str) -> EncodedTexts | None:
        path = self.path(key)
        if not path.is_file():
            return None
        try:
            tensors = load_file(str(path))
            return EncodedTexts(**{name: tensors[name] for name in _TENSORS})
        except Exception as exc:  # a damaged file is re-encoded, never trusted
            logger.warning("ignoring unreadable cache file %s: %s", path, exc)
            return None

    def save(self, key: str, encoded: EncodedTexts, metadata: dict[str, str] | None = None) -> Path:
        """Write atomically (temporary file in the same folder, then rename)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.path(key)
        tensors = {name: getattr(encoded, name).contiguous().cpu() for name in _TENSORS}
        with atomic_output(path) as tmp:
            save_file(tensors, str(tmp), metadata=metadata or {})
        return path

    def get_or_encode(
        self,
        identity: dict[str, Any],
        kind: str,
        texts: Sequence[str],
        encode: Any,
        metadata: dict[str, str] | None = None,
    ) -> EncodedTexts:
        """Return the cached encoding of ``texts`` or compute it with ``encode(texts)`` and store it."""
        key = cache_key(identity, kind, texts)
        cached = self.load(key)
        if cached is not None and len(cached) == len(texts):
            logger.info("encoded %s texts loaded from cache %s", kind, self.path(key))
            return cached
        self.folder.mkdir(parents=True, exist_ok=True)
        with FileLock(str(self.path(key)) + ".lock"):
            cached = self.load(key)  # another process may have finished it meanwhile
            if cached is not None and len(cached) == len(texts):
                return cached
            encoded = encode(list(texts))
            meta = {"identity": json.dumps(identity, sort_keys=True, default=str), "kind": kind, "count": str(len(texts))}
            meta.update(metadata or {})
            self.save(key, encoded, meta)
        return encoded
