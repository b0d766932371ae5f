"""Per-token states of multimodal sentence-transformers models, from the same forward pass.

Three model families, told apart by what sentence-transformers 6 loaded:

* ``"text"`` -- a text encoder: its ``token_embeddings`` are the token states (unchanged path);
* ``"vlm"`` -- a vision-language embedder that sentence-transformers runs through the chat
  *message* format (Qwen2-VL / Qwen3-VL family, GME, LLaVA-style models): its last-layer
  ``token_embeddings`` hold text tokens, chat-template tokens and one state per visual
  placeholder token (``<|image_pad|>``, ``<|video_pad|>``); the placeholders' states are the
  page's patch vectors and are kept, the template and special tokens dropped;
* ``"dual"`` -- a dual encoder (CLIP, SigLIP) whose sentence-transformers path calls
  ``get_text_features`` / ``get_image_features`` and returns only the pooled vector. Forward
  hooks on the model's own text and vision towers capture their last hidden states during that
  same call, and :class:`DualEncoderTaps` takes them through the model's own final norm and
  projection, so token and patch vectors live in the pooled embedding's space.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor

Family = Literal["text", "vlm", "dual"]

#: Token id recorded for an image patch of a dual encoder (patches have no vocabulary id).
PATCH_TOKEN_ID = -1
#: Token id recorded for a dual encoder's class/summary patch (dropped with the special tokens).
CLS_PATCH_TOKEN_ID = -2

#: Dual-encoder ``model_type`` values whose token path is implemented here.
DUAL_ENCODER_TYPES = ("clip", "siglip", "siglip2")

_VISUAL_TOKEN_ATTRIBUTES = ("image_token_id", "image_token_index", "video_token_id", "video_token_index")


def transformer_module(model: Any) -> Any:
    """The sentence-transformers ``Transformer`` input module (``model[0]``), or None."""
    try:
        first = model[0]
    except (TypeError, IndexError, KeyError):
        return None
    return first if hasattr(first, "modality_config") else None


def backbone(model: Any) -> Any:
    module = transformer_module(model)
    return None if module is None else getattr(module, "model", None) or getattr(module, "auto_model", None)


def detect_family(model: Any) -> Family:
    """Which family a loaded ``SentenceTransformer`` belongs to (see the module docstring).

    Examples
    --------
    >>> detect_family(object())
    'text'
    """
    module = transformer_module(model)
    if module is None:
        return "text"
    config = dict(module.modality_config)
    media = {m for m in config if m in ("image", "video") or isinstance(m, tuple)}
    if not media:
        return "text"
    if "message" in config:
        return "vlm"
    methods = {str(params.get("method")) for params in config.values()}
    if any(m.startswith("get_") for m in methods):
        return "dual"
    return "vlm" if module.module_output_name == "token_embeddings" else "dual"


def visual_token_ids(model: Any) -> list[int]:
    """Vocabulary ids of the visual placeholder tokens (``<|image_pad|>``, ``<|video_pad|>``, ``<image>``...).

    Read from the model config (``image_token_id`` / ``image_token_index`` / ``video_token_id``),
    the ids the model itself replaces with vision-tower outputs.
    """
    net = backbone(model)
    config = getattr(net, "config", None)
    ids: set[int] = set()
    for source in (config, getattr(config, "text_config", None)):
        for name in _VISUAL_TOKEN_ATTRIBUTES:
            value = getattr(source, name, None) if source is not None else None
            if isinstance(value, int) and value >= 0:
                ids.add(value)
    return sorted(ids)


def model_type(model: Any) -> str:
    net = backbone(model)
    return str(getattr(getattr(net, "config", None), "model_type", "") or "")


# ---------------------------------------------------------------------------------------- VLMs
def template_mask(input_ids: Tensor, attention_mask: Tensor, skeleton: list[int]) -> Tensor:
    """``(B, L)`` mask of the tokens that are *not* chat-template scaffolding.

    ``skeleton`` is the token sequence the chat template renders around an empty input
    (``<|im_start|>user\\n`` ... ``<|im_end|>\\n``). Each row's longest common prefix and suffix
    with it (ignoring padding, left or right) are the template; what lies between is content.

    Examples
    --------
    >>> ids = torch.tensor([[0, 1, 7, 9, 5, 5, 2, 8]])
    >>> mask = torch.tensor([[0, 1, 1, 1, 1, 1, 1, 1]])
    >>> template_mask(ids, mask, [1, 7, 9, 2, 8]).int().tolist()
    [[0, 0, 0, 0, 1, 1, 0, 0]]
    """
    keep = attention_mask.bool().clone()
    if not skeleton:
        return keep
    for row in range(input_ids.shape[0]):
        real = keep[row].nonzero().flatten()
        ids = input_ids[row, real].tolist()
        prefix = 0
        while prefix < min(len(ids), len(skeleton)) and ids[prefix] == skeleton[prefix]:
            prefix += 1
        suffix = 0
        limit = min(len(ids) - prefix, len(skeleton) - prefix)
        while suffix < limit and ids[len(ids) - 1 - suffix] == skeleton[len(skeleton) - 1 - suffix]:
            suffix += 1
        dropped = torch.cat([real[:prefix], real[len(real) - suffix :]]) if suffix else real[:prefix]
        keep[row, dropped] = False
    return keep


# ---------------------------------------------------------------------------------- dual encoders
class DualEncoderTaps:
    """Capture a CLIP / SigLIP model's tower outputs during sentence-transformers' own forward call.

    sentence-transformers calls ``get_text_features`` / ``get_image_features``, which run
    ``text_model`` / ``vision_model`` and project only the pooled state. Forward hooks on the two
    towers keep their ``last_hidden_state``; :meth:`token_states` then applies the same final
    norm and projection the pooled state went through:

    * CLIP text: ``text_projection(last_hidden_state)`` (the tower already applied its final norm;
      the EOS token's vector *is* the pooled embedding);
    * CLIP image: ``visual_projection(post_layernorm(state))`` per patch (the class token's vector
      is the pooled embedding; it is recorded as a special token);
    * SigLIP text: ``text_model.head(last_hidden_state)`` (the last token's vector is the pooled one);
    * SigLIP image: the attention-pooling head's value and output projections per patch, then its
      residual MLP. The pooled embedding is that MLP applied to an attention-weighted average of
      exactly these projected values, so patches and pooled vector share one space.

    Examples
    --------
    >>> DualEncoderTaps(torch.nn.Linear(2, 2), "bert")  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    ValueError: ...
    """

    def __init__(self, net: torch.nn.Module, kind: str) -> None:
        if kind not in DUAL_ENCODER_TYPES or not hasattr(net, "text_model") or not hasattr(net, "vision_model"):
            raise ValueError(
                f"model type {kind!r} is a dual encoder whose per-token states smart-plugins cannot reach "
                f"(implemented: {', '.join(DUAL_ENCODER_TYPES)}); its pooled embedding alone is not a SMART encoder"
            )
        self.net = net
        self.kind = "clip" if kind == "clip" else "siglip"
        self._captured: dict[str, Tensor] = {}
        self._active = False
        net.text_model.register_forward_hook(self._hook("text"))
        net.vision_model.register_forward_hook(self._hook("image"))

    def _hook(self, tower: str) -> Any:
        def keep(_module: torch.nn.Module, _args: Any, output: Any) -> None:
            if self._active:
                state = output["last_hidden_state"] if isinstance(output, dict) else output[0]
                self._captured[tower] = state

        return keep

    @classmethod
    def attach(cls, net: torch.nn.Module, kind: str) -> DualEncoderTaps:
        """The taps of ``net``, installed once per model (encoders sharing a model share its hooks)."""
        taps = getattr(net, "_smart_plugins_taps", None)
        if not isinstance(taps, cls):
            taps = cls(net, kind)
            object.__setattr__(net, "_smart_plugins_taps", taps)
        return taps

    @contextmanager
    def capture(self) -> Iterator[dict[str, Tensor]]:
        """Record the towers' last hidden states for the forward calls made inside the block."""
        self._captured = {}
        self._active = True
        try:
            yield self._captured
        finally:
            self._active = False

    def token_states(self, captured: dict[str, Tensor], features: dict[str, Any]) -> tuple[Tensor, Tensor, Tensor]:
        """``(states, input_ids, attention_mask)`` for the batch just run (texts or images)."""
        if "text" in captured and "input_ids" in features:
            state = captured["text"]
            input_ids = features["input_ids"]
            mask = features.get("attention_mask")
            if mask is None:
                mask = torch.ones_like(input_ids)
            head = self.net.text_projection if self.kind == "clip" else self.net.text_model.head
            return head(state), input_ids, mask
        if "image" not in captured:
            raise ValueError("the dual encoder's vision tower did not run for this image batch")
        state = captured["image"]
        vision = self.net.vision_model
        if self.kind == "clip":
            vectors = self.net.visual_projection(vision.post_layernorm(state))
            ids = torch.full(vectors.shape[:2], PATCH_TOKEN_ID, dtype=torch.int64, device=state.device)
            ids[:, 0] = CLS_PATCH_TOKEN_ID
        else:
            head = vision.head
            attention = head.attention
            dim = state.shape[-1]
            values = F.linear(state, attention.in_proj_weight[2 * dim :], attention.in_proj_bias[2 * dim :])
            values = attention.out_proj(values)
            vectors = values + head.mlp(head.layernorm(values))
            ids = torch.full(vectors.shape[:2], PATCH_TOKEN_ID, dtype=torch.int64, device=state.device)
        return vectors, ids, torch.ones_like(ids)


def default_dtype(family: Family, device: str | torch.device) -> torch.dtype | None:
    """bfloat16 for a vision-language model on CUDA, else None (the model's own dtype).

    Examples
    --------
    >>> default_dtype("vlm", "cuda:0"), default_dtype("vlm", "cpu"), default_dtype("text", "cuda")
    (torch.bfloat16, None, None)
    """
    return torch.bfloat16 if family == "vlm" and torch.device(device).type == "cuda" else None
