"""Encoder: one forward pass gives the pooled embedding and the kept token states."""

from smart_plugins.encoder.encoded import EncodedTexts
from smart_plugins.encoder.inputs import validate_texts
from smart_plugins.encoder.smart_encoder import (
    ADAPTED_TOKENS_KEY,
    SmartEncoder,
    default_device,
)
from smart_plugins.encoder.token_policy import TokenPolicy, kept_token_mask

__all__ = [
    "ADAPTED_TOKENS_KEY",
    "EncodedTexts",
    "SmartEncoder",
    "TokenPolicy",
    "default_device",
    "kept_token_mask",
    "validate_texts",
]
