"""The token adapter: a small trained readout from the frozen backbone's token states.

``TokenAdapter`` is a sentence-transformers module appended after the model's own modules. It
reads ``features["token_embeddings"]`` and writes its projection under
:data:`~smart_plugins.encoder.ADAPTED_TOKENS_KEY`; the pooled ``sentence_embedding`` is never
touched, so ``SentenceTransformer.encode`` is unchanged and :class:`~smart_plugins.encoder.SmartEncoder`
uses the adapted token vectors for late interaction without any code change.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from sentence_transformers.base.modules.module import Module
from torch import Tensor

from smart_plugins.encoder.smart_encoder import ADAPTED_TOKENS_KEY, expose_hidden_layers
from smart_plugins.encoder.token_weights import TOKEN_WEIGHT_LOGITS_KEY, weight_tokens

#: Version of the adapter's saved layout; recorded in its config and in ``describe_adapter()``.
ADAPTER_FORMAT = 1


class TokenAdapter(Module):
    """LayerNorm -> Linear(H -> D, no bias, Xavier init) -> L2-normalise, on every token state.

    The input is L2-normalised before the LayerNorm. LayerNorm is (almost) scale-invariant, so
    this changes nothing in what the adapter can express, but it makes the adapter an exact
    function of the unit token vectors :class:`~smart_plugins.encoder.SmartEncoder` already
    produces, which is what lets training cache them once and never run the backbone again.

    Two optional parts, both off by default (off = the reference adapter):

    * ``layers = N > 1`` reads the last ``N`` layers' token states (each L2-normalised) and mixes
      them with learned softmax weights before the LayerNorm (the last layer is the tensor
      pooling reads; the others are the backbone's earlier hidden states).
    * ``query_weights=True`` adds a learned per-token weight for queries: a linear score of the
      (mixed, normalised) state, softmax-normalised over each query's kept tokens so the weights
      average 1 (see :mod:`~smart_plugins.encoder.token_weights`). Documents are not weighted.
      Both start neutral (uniform layer mix, uniform weights).

    Parameters
    ----------
    input_dim:
        ``H``, the backbone's hidden size (384 for MiniLM).
    output_dim:
        ``D``, the size of the stored token vectors (``D = H`` reproduces the reference;
        ``D = 128`` cuts MiniLM's token storage 3x).
    input_key:
        Feature read by the adapter (the backbone's last-layer token states).
    layers:
        How many of the backbone's last layers are mixed (1: the last layer only).
    query_weights:
        Learn a weight per query token (written as ``smart_token_weight_logits`` for queries).
    seed:
        Seed of the Xavier initialisation (None: torch's global generator).

    Examples
    --------
    >>> import torch
    >>> adapter = TokenAdapter(input_dim=8, output_dim=4, seed=0)
    >>> features = {"token_embeddings": torch.randn(2, 5, 8), "sentence_embedding": torch.ones(2, 8)}
    >>> with torch.no_grad():
    ...     out = adapter(features)
    >>> out["smart_token_embeddings"].shape, out["sentence_embedding"].shape
    (torch.Size([2, 5, 4]), torch.Size([2, 8]))
    >>> round(float(out["smart_token_embeddings"][0, 0].norm()), 4)
    1.0
    >>> desc = adapter.describe_adapter()
    >>> desc["type"], desc["input_dim"], desc["output_dim"], len(desc["sha256"])
    ('TokenAdapter', 8, 4, 64)
    """

    config_keys: list[str] = ["input_dim", "output_dim", "input_key", "format", "layers", "query_weights"]
    config_file_name: str = "smart_token_adapter.json"
    #: sentence-transformers passes ``task`` ("query" / "document") to modules that declare it.
    forward_kwargs: set[str] = {"task"}

    def __init__(
        self,
        input_dim: int,
        output_dim: int,
        input_key: str = "token_embeddings",
        format: int = ADAPTER_FORMAT,
        layers: int = 1,
        query_weights: bool = False,
        seed: int | None = None,
    ) -> None:
        super().__init__()
        for name, value in (("input_dim", input_dim), ("output_dim", output_dim), ("layers", layers)):
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"TokenAdapter {name} must be a positive integer, got {value!r}")
        if format != ADAPTER_FORMAT:
            raise ValueError(f"TokenAdapter format {format} is not supported (this version reads {ADAPTER_FORMAT})")
        self.input_dim = input_dim
        self.output_dim = output_dim
        self.input_key = input_key
        self.format = format
        self.layers = layers
        self.query_weights = bool(query_weights)
        self.layer_logits = torch.nn.Parameter(torch.zeros(layers)) if layers > 1 else None
        self.token_gate = torch.nn.Linear(input_dim, 1) if self.query_weights else None
        if self.token_gate is not None:  # start from uniform weights
            torch.nn.init.zeros_(self.token_gate.weight)
            torch.nn.init.zeros_(self.token_gate.bias)
        self.norm = torch.nn.LayerNorm(input_dim)
        self.linear = torch.nn.Linear(input_dim, output_dim, bias=False)
        generator = torch.Generator().manual_seed(seed) if seed is not None else None
        with torch.no_grad():
            bound = (6.0 / (input_dim + output_dim)) ** 0.5  # Xavier (Glorot) uniform
            self.linear.weight.copy_(torch.empty(output_dim, input_dim).uniform_(-bound, bound, generator=generator))

    # ------------------------------------------------------------------ compute
    @property
    def state_size(self) -> int:
        """Size of the token states the adapter reads: ``layers * H`` (layers side by side)."""
        return self.layers * self.input_dim

    def mix(self, states: Tensor) -> Tensor:
        """``(..., layers * H)`` states -> ``(..., H)`` unit vectors (the learned mix of layers)."""
        if states.shape[-1] != self.state_size:
            raise ValueError(
                f"TokenAdapter expects token states of size {self.state_size} "
                f"({self.layers} layer(s) x {self.input_dim}), got {states.shape[-1]}"
            )
        x = states.to(self.linear.weight.dtype)
        if self.layer_logits is None:
            return F.normalize(x, dim=-1)
        per_layer = F.normalize(x.unflatten(-1, (self.layers, self.input_dim)), dim=-1)
        mixed = (torch.softmax(self.layer_logits, dim=0).unsqueeze(-1) * per_layer).sum(dim=-2)
        return F.normalize(mixed, dim=-1)

    def project(self, states: Tensor) -> Tensor:
        """Map ``(..., layers * H)`` token states to ``(..., D)`` unit vectors (differentiable)."""
        return F.normalize(self.linear(self.norm(self.mix(states))), dim=-1)

    def weight_logits(self, states: Tensor) -> Tensor:
        """``(...)`` query-token weight logits of ``(..., layers * H)`` states (``query_weights`` only)."""
        if self.token_gate is None:
            raise ValueError("this TokenAdapter was built without query_weights")
        return self.token_gate(self.mix(states)).squeeze(-1)

    def encode_packed(self, states: Tensor, lengths: Sequence[int] | Tensor, kind: str | None = None) -> Tensor:
        """Adapted token vectors of packed texts, as :class:`~smart_plugins.encoder.SmartEncoder`
        would give them: unit vectors, and for ``kind="query"`` scaled by the query-token weights.

        Examples
        --------
        >>> import torch
        >>> adapter = TokenAdapter(8, 4, query_weights=True, seed=0)
        >>> adapter.encode_packed(torch.randn(5, 8), [3, 2], kind="query").shape
        torch.Size([5, 4])
        """
        tokens = self.project(states)
        if kind == "query" and self.token_gate is not None:
            tokens = weight_tokens(tokens, self.weight_logits(states), lengths)
        return tokens

    def forward(self, features: dict[str, Tensor | Any], task: str | None = None, **kwargs: Any) -> dict[str, Tensor | Any]:
        states = features.get(self.input_key)
        if states is None:
            raise KeyError(
                f"TokenAdapter needs the feature {self.input_key!r} (the backbone's token states); "
                f"available: {sorted(features)}"
            )
        if self.layers > 1:
            hidden = features.get("all_layer_embeddings")
            if hidden is None or len(hidden) < self.layers:
                raise KeyError(
                    f"this TokenAdapter mixes the last {self.layers} layers but the backbone did not return "
                    "its hidden states: load the model with smart_plugins (SmartEncoder or "
                    "load_sentence_transformer), or call smart_plugins.encoder.expose_hidden_layers(model)"
                )
            # the last layer is the tensor pooling reads; earlier layers come from the hidden states
            states = torch.cat([*(F.normalize(h, dim=-1) for h in hidden[-self.layers : -1]), F.normalize(states, dim=-1)], -1)
        features[ADAPTED_TOKENS_KEY] = self.project(states)
        if task == "query" and self.token_gate is not None:
            features[TOKEN_WEIGHT_LOGITS_KEY] = self.weight_logits(states)
        return features

    # ------------------------------------------------------------------ identity
    def fingerprint(self) -> str:
        """SHA-256 of the weights (float32, names in sorted order): identifies a trained adapter."""
        digest = hashlib.sha256()
        header = f"{type(self).__name__}:{self.input_dim}:{self.output_dim}:{self.format}"
        if self.layers > 1 or self.query_weights:  # the reference adapter keeps its old fingerprint
            header += f":layers={self.layers}:query_weights={self.query_weights}"
        digest.update(header.encode())
        for name, tensor in sorted(self.state_dict().items()):
            digest.update(name.encode())
            digest.update(tensor.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
        return digest.hexdigest()

    def describe_adapter(self) -> dict[str, Any]:
        """JSON-able identity recorded by ``SmartEncoder.describe()`` (indexes compare it)."""
        described: dict[str, Any] = {
            "type": type(self).__name__,
            "class": f"{type(self).__module__}.{type(self).__name__}",
            "format": self.format,
            "input_dim": self.input_dim,
            "output_dim": self.output_dim,
        }
        if self.layers > 1 or self.query_weights:  # the reference adapter describes itself as before
            described.update(layers=self.layers, query_weights=self.query_weights)
        described["sha256"] = self.fingerprint()
        return described

    # ------------------------------------------------------------------ persistence
    def save(self, output_path: str, *args: Any, safe_serialization: bool = True, **kwargs: Any) -> None:
        os.makedirs(output_path, exist_ok=True)
        self.save_config(output_path)
        self.save_torch_weights(output_path, safe_serialization=safe_serialization)

    @classmethod
    def load(cls, model_name_or_path: str, subfolder: str = "", **kwargs: Any) -> TokenAdapter:
        hub_kwargs = {
            key: kwargs[key] for key in ("token", "cache_folder", "revision", "local_files_only") if key in kwargs
        }
        config = cls.load_config(model_name_or_path, subfolder=subfolder, **hub_kwargs)
        if not config:
            raise FileNotFoundError(
                f"no {cls.config_file_name} in {os.path.join(model_name_or_path, subfolder)}: not a saved TokenAdapter"
            )
        unknown = sorted(set(config) - set(cls.config_keys))
        if unknown:
            raise ValueError(f"unknown TokenAdapter config keys {unknown} in {model_name_or_path}/{subfolder}")
        adapter = cls(**config)
        cls.load_torch_weights(model_name_or_path, subfolder=subfolder, model=adapter, **hub_kwargs)
        return adapter


def find_adapter(model: torch.nn.Module) -> TokenAdapter | None:
    """The model's :class:`TokenAdapter`, or None when it has none.

    Examples
    --------
    >>> find_adapter(torch.nn.Sequential(torch.nn.Identity())) is None
    True
    """
    adapters = [m for m in model.children() if isinstance(m, TokenAdapter)]
    if len(adapters) > 1:
        raise ValueError(f"the model holds {len(adapters)} TokenAdapter modules; expected at most one")
    return adapters[0] if adapters else None


def attach_adapter(
    model: Any, output_dim: int, *, layers: int = 1, query_weights: bool = False, seed: int | None = 0
) -> TokenAdapter:
    """Append a fresh :class:`TokenAdapter` to a ``SentenceTransformer`` and return it.

    The adapter's input size is the backbone's hidden size (``model[0]``); it is placed on the
    model's device. A model that already has an adapter is refused.

    Examples
    --------
    >>> from sentence_transformers import SentenceTransformer
    >>> model = SentenceTransformer("minilm-path")  # doctest: +SKIP
    >>> attach_adapter(model, 128).output_dim  # doctest: +SKIP
    128
    """
    if find_adapter(model) is not None:
        raise ValueError("the model already has a TokenAdapter; load the base model to train a new one")
    hidden = int(model[0].get_embedding_dimension())
    adapter = TokenAdapter(
        input_dim=hidden, output_dim=output_dim, layers=layers, query_weights=query_weights, seed=seed
    ).to(model.device)
    if layers > 1:
        expose_hidden_layers(model)
    model.append(adapter)
    return adapter
