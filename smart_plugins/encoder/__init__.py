"""Encoder: one forward pass gives the pooled embedding and the kept token states.

Names are imported on first use (PEP 562), so that a module needing only :class:`EncodedTexts`
(the index's maintenance commands) does not load the model code and torch with it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from smart_plugins.lazy import lazy_exports

_LAZY = {
    "EncodedTexts": "smart_plugins.encoder.encoded",
    "validate_inputs": "smart_plugins.encoder.inputs",
    "validate_texts": "smart_plugins.encoder.inputs",
    "ADAPTED_TOKENS_KEY": "smart_plugins.encoder.smart_encoder",
    "SmartEncoder": "smart_plugins.encoder.smart_encoder",
    "default_device": "smart_plugins.encoder.smart_encoder",
    "expose_hidden_layers": "smart_plugins.encoder.smart_encoder",
    "TokenPolicy": "smart_plugins.encoder.token_policy",
    "kept_token_mask": "smart_plugins.encoder.token_policy",
    "TOKEN_WEIGHT_LOGITS_KEY": "smart_plugins.encoder.token_weights",
    "weight_tokens": "smart_plugins.encoder.token_weights",
}

if TYPE_CHECKING:
    from smart_plugins.encoder.encoded import EncodedTexts
    from smart_plugins.encoder.inputs import validate_inputs, validate_texts
    from smart_plugins.encoder.smart_encoder import (
        ADAPTED_TOKENS_KEY,
        SmartEncoder,
        default_device,
        expose_hidden_layers,
    )
    from smart_plugins.encoder.token_policy import TokenPolicy, kept_token_mask
    from smart_plugins.encoder.token_weights import TOKEN_WEIGHT_LOGITS_KEY, weight_tokens


__getattr__, __dir__ = lazy_exports(__name__, _LAZY)


__all__ = [
    "ADAPTED_TOKENS_KEY",
    "TOKEN_WEIGHT_LOGITS_KEY",
    "EncodedTexts",
    "SmartEncoder",
    "TokenPolicy",
    "default_device",
    "expose_hidden_layers",
    "kept_token_mask",
    "validate_inputs",
    "validate_texts",
    "weight_tokens",
]
