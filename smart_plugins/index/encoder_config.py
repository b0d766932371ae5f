"""Bind an index to one encoder configuration: resolve, compare and rebuild encoders."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import smart_plugins.encoder as encoders  # its names load on first use: reading an index needs no model code
from smart_plugins.models import resolve_model_name

if TYPE_CHECKING:
    from smart_plugins.encoder import SmartEncoder


def resolve_encoder(encoder: SmartEncoder | str) -> SmartEncoder:
    """Accept a :class:`SmartEncoder` (or an object with the same ``describe``/``encode_*``/``token_dim``
    interface) or a model name / path / alias."""
    if isinstance(encoder, encoders.SmartEncoder):
        return encoder
    if all(hasattr(encoder, a) for a in ("describe", "encode_queries", "encode_documents", "token_dim")):
        return encoder  # type: ignore[return-value]
    if isinstance(encoder, str):
        return encoders.SmartEncoder(encoder)
    raise TypeError(f"encoder must be a SmartEncoder or a model name, got {type(encoder).__name__}")


def _canonical(description: dict[str, Any]) -> dict[str, Any]:
    out = dict(description)
    model = out.get("model")
    if isinstance(model, str):
        try:
            out["model"] = resolve_model_name(model)
        except (ModuleNotFoundError, FileNotFoundError, ValueError):
            pass
    return out


def description_differences(recorded: dict[str, Any], actual: dict[str, Any]) -> list[str]:
    """Human-readable list of the fields where two ``describe()`` dicts differ.

    Model aliases are resolved first, so ``"minilm"`` matches the packaged model's path.

    Examples
    --------
    >>> description_differences({"model": "/m", "token_dim": 32}, {"model": "/m", "token_dim": 64})
    ['token_dim: index has 32, encoder has 64']
    """
    a, b = _canonical(recorded), _canonical(actual)
    return [f"{key}: index has {a.get(key)!r}, encoder has {b.get(key)!r}" for key in sorted(set(a) | set(b)) if a.get(key) != b.get(key)]


def check_encoder(recorded: dict[str, Any], encoder: SmartEncoder) -> None:
    """Raise ValueError naming every differing field when ``encoder`` is not the index's."""
    diffs = description_differences(recorded, encoder.describe())
    if diffs:
        raise ValueError(
            "the encoder does not match the one this index was built with; differing fields: " + "; ".join(diffs)
        )


def rebuild_encoder(recorded: dict[str, Any], **kwargs: Any) -> SmartEncoder:
    """Recreate the encoder an index recorded (model name, pooling, token policy).

    ``kwargs`` go to :class:`SmartEncoder` (e.g. ``device``, ``batch_size``); a recorded ``autocast``
    is used unless ``kwargs`` set one. Raises ValueError when it cannot be rebuilt exactly (an in-memory model, or a saved
    model whose token adapter no longer matches the recorded fingerprint): pass the encoder to
    ``SmartIndex.open`` then.
    """
    model = recorded.get("model")
    if not isinstance(model, str) or model == "SentenceTransformer":
        raise ValueError(f"the index records no reloadable model name ({model!r}); pass the encoder to SmartIndex.open")
    policy = encoders.TokenPolicy.from_description(recorded.get("token_policy") or {})
    if kwargs.get("autocast") is None and recorded.get("autocast"):  # an index encoded in mixed precision
        kwargs["autocast"] = recorded["autocast"]
    encoder = encoders.SmartEncoder(model, token_policy=policy, **kwargs)
    if description_differences(recorded, encoder.describe()) and recorded.get("pooling"):
        pooling = str(recorded["pooling"])
        if pooling in ("mean", "cls", "lasttoken", "max"):
            encoder = encoders.SmartEncoder.from_transformers(
                model, pooling=pooling, normalize=bool(recorded.get("normalize", True)), token_policy=policy,  # type: ignore[arg-type]
                **kwargs,
            )
    check_encoder(recorded, encoder)
    return encoder
