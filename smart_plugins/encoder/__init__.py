"""Encoder: one forward pass gives the pooled embedding and the kept token states."""

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
