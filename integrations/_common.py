"""Small helpers the framework adapters share (no framework imported here).

Examples
--------
>>> as_weights("0.5:1")
ScoreWeights(pool=0.5, late=1.0)
>>> as_weights({"pool": 1, "late": 0})
ScoreWeights(pool=1.0, late=0.0)
>>> check_k(0)
Traceback (most recent call last):
...
ValueError: k must be a positive integer, got 0
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from smart_plugins.encoder import SmartEncoder
from smart_plugins.scoring import ScoreWeights

EncoderLike = Any  # SmartEncoder | SentenceTransformer | str (path, hub name or alias)
WeightsLike = Any  # ScoreWeights | "POOL:LATE" | {"pool": .., "late": ..} | (pool, late) | None


def as_encoder(encoder: EncoderLike, **kwargs: Any) -> SmartEncoder:
    """Return ``encoder`` as a :class:`SmartEncoder` (built from a model, path or alias if needed)."""
    if isinstance(encoder, SmartEncoder):
        return encoder
    if encoder is None:
        raise ValueError("an encoder is required: pass a SmartEncoder, a SentenceTransformer, a path or an alias like 'minilm'")
    smart = getattr(encoder, "smart_encoder", None)  # a SmartSentenceTransformer
    if isinstance(smart, SmartEncoder):
        return smart
    return SmartEncoder(encoder, **kwargs)


def as_weights(weights: WeightsLike) -> ScoreWeights | None:
    """Parse the accepted spellings of hybrid weights; ``None`` stays ``None`` (use the default)."""
    if weights is None or isinstance(weights, ScoreWeights):
        return weights
    if isinstance(weights, str):
        return ScoreWeights.parse(weights)
    if isinstance(weights, Mapping):
        unknown = set(weights) - {"pool", "late"}
        if unknown:
            raise ValueError(f"weights accept only the keys 'pool' and 'late', got {sorted(unknown)}")
        return ScoreWeights(**{k: float(v) for k, v in weights.items()})
    if isinstance(weights, (tuple, list)) and len(weights) == 2:
        return ScoreWeights(float(weights[0]), float(weights[1]))
    raise TypeError(f"weights must be ScoreWeights, 'POOL:LATE', a dict or a (pool, late) pair, got {weights!r}")


def check_k(k: Any, *, name: str = "k") -> int:
    """Validate a result count."""
    if isinstance(k, bool) or not isinstance(k, int) or k <= 0:
        raise ValueError(f"{name} must be a positive integer, got {k!r}")
    return k
