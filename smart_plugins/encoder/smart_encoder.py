"""One forward pass, two outputs: the model's own pooled embedding and its kept token states."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from smart_plugins.encoder.batch_assembly import BatchCollector, ForwardBatch, inverse_order
from smart_plugins.encoder.encoded import EncodedTexts
from smart_plugins.encoder.inputs import validate_inputs
from smart_plugins.encoder.onnx_backend import SAME_VECTORS, check_backend
from smart_plugins.encoder.precision import autocast_context, check_autocast
from smart_plugins.encoder.multimodal import (
    CLS_PATCH_TOKEN_ID,
    DualEncoderTaps,
    backbone,
    default_dtype,
    detect_family,
    model_type,
    template_mask,
    visual_token_ids,
)
from smart_plugins.encoder.visual_budget import cap_visual_tokens, plan_batches, visual_token_costs
from smart_plugins.encoder.token_policy import TokenPolicy, kept_token_mask
from smart_plugins.encoder.token_weights import TOKEN_WEIGHT_LOGITS_KEY, weight_tokens
from smart_plugins.models import resolve_model_name
from smart_plugins.progress import track

if TYPE_CHECKING:  # imported where used: opening an index for info/delete needs no model library
    from sentence_transformers import SentenceTransformer

logger = logging.getLogger(__name__)

#: Feature key a token adapter module writes its projected token states under. When present
#: in a model's output, these replace the raw last-layer states as late-interaction vectors;
#: the pooled embedding is never touched.
ADAPTED_TOKENS_KEY = "smart_token_embeddings"

TextKind = Literal["query", "document"]
_PROMPT_CANDIDATES: dict[str, tuple[str, ...]] = {
    "query": ("query",),
    "document": ("document", "passage", "corpus"),
}
_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


@dataclass(frozen=True)
class _Piece:
    """One forward-pass input: a whole text, or one window of a chunked long text."""

    text_index: int
    text: str
    position_shift: int = 0


class SmartEncoder:
    """Encode texts into pooled embeddings plus L2-normalised token vectors in one pass.

    Wraps a sentence-transformers model (its modules decide pooling and normalisation),
    so ``encode(...).pooled`` equals ``SentenceTransformer.encode`` on the same texts.

    Parameters
    ----------
    model:
        A loaded ``SentenceTransformer``, a local folder, a hub name, or a packaged-model
        alias (``"minilm"``, ``"mpnet"``; see :mod:`smart_plugins.models`). A loaded model is
        used as it is: it stays on its device and in its dtype unless ``device`` / ``dtype``
        are given, which move / cast it in place (as ``SentenceTransformer.to`` does).
    device:
        ``"cuda"``, ``"cpu"``, ... ; default: the GPU when one is present, else the CPU (for a
        loaded model: its own device).
    dtype:
        ``"float16"`` or ``"bfloat16"`` runs the backbone in half precision (GPU);
        outputs are always float32.
    token_policy:
        Which token states are kept (see :class:`TokenPolicy`).
    batch_size:
        Texts per forward pass; texts are batched in order of length.
    truncation:
        ``"warn"`` truncates texts longer than the model's limit with a warning;
        ``"chunk"`` encodes them in overlapping windows and keeps every window's tokens
        (pooled = mean of the windows' pooled vectors, re-normalised if the model normalises).
    chunk_overlap:
        Tokens shared by consecutive windows in ``"chunk"`` mode (an integer from 0 to half
        the model's max length).
    max_chunk_tokens:
        In ``"chunk"`` mode, the most tokens one text may have (default 65,536, about 250k
        characters of English; each token keeps a vector, 1.5 KB at 384 dims). A longer text
        raises ValueError naming it; ``None`` removes the cap.
    hidden_layers:
        Token vectors of a model without adapter hold the last ``N`` layers' states side by
        side (each L2-normalised, then the whole row normalised), ``N * H`` values per token.
        Only for training a layer-mixing :class:`~smart_plugins.encoder.token_adapter.TokenAdapter`
        from cached states; the default ``1`` gives the last layer, as the SMART formula says.
    backend:
        ``"torch"`` (default), or, for text models on the CPU, ``"onnx"`` (ONNX Runtime),
        ``"onnx-int8"`` (int8 weights) or ``"openvino"``: the backbone is exported once from the
        loaded weights (offline, cached) and the model's own pooling and normalisation run on its
        output (see :mod:`smart_plugins.encoder.onnx_backend`; needs ``smart-plugins[onnx]``).
        A ``SentenceTransformer`` object passed as ``model`` keeps its torch backbone: the swap
        happens in a shallow copy (the weights are shared, not duplicated).
    autocast:
        ``"bfloat16"`` (or ``"float16"``) runs each forward pass under ``torch.autocast``: matrix
        products in that dtype, weights and normalisations in float32, outputs float32. On a CPU
        with AMX / AVX512-BF16 (:func:`~smart_plugins.encoder.precision.cpu_has_native_bf16`)
        ``"bfloat16"`` encodes MiniLM about 2.4x faster than float32 with nDCG@10 within 0.15 pt
        (docs/core.md); elsewhere it is slower. Part of :meth:`describe` (the vectors differ slightly).

    Examples
    --------
    >>> encoder = SmartEncoder("minilm", device="cpu")
    >>> enc = encoder.encode(["SMART keeps the token states.", "Pooling throws them away."])
    >>> enc.pooled.shape, enc.token_dim
    (torch.Size([2, 384]), 384)
    >>> enc.lengths.tolist()  # [CLS] and [SEP] dropped
    [6, 6]
    """

    def __init__(
        self,
        model: str | SentenceTransformer,
        *,
        device: str | torch.device | None = None,
        dtype: str | torch.dtype | None = None,
        token_policy: TokenPolicy | None = None,
        batch_size: int = 32,
        truncation: Literal["warn", "chunk"] = "warn",
        chunk_overlap: int = 32,
        max_chunk_tokens: int | None = 65_536,
        model_kwargs: dict[str, Any] | None = None,
        hidden_layers: int = 1,
        max_visual_tokens: int | None = None,
        visual_token_budget: int | None = None,
        backend: str = "torch",
        autocast: str | None = None,
    ) -> None:
        self.backend = check_backend(backend)
        self.autocast = check_autocast(autocast)
        if autocast is not None and backend != "torch":
            raise ValueError(f"autocast={autocast!r} runs on the torch backend; backend={backend!r} sets its own precision")
        if autocast is not None and dtype is not None:
            raise ValueError(f"autocast={autocast!r} mixes precision on float32 weights; it cannot be combined with dtype={dtype!r}")
        if batch_size <= 0:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        if truncation not in ("warn", "chunk"):
            raise ValueError(f"truncation must be 'warn' or 'chunk', got {truncation!r}")
        _check_chunking(chunk_overlap, max_chunk_tokens)
        if dtype is not None and not ((isinstance(dtype, str) and dtype in _DTYPES) or (isinstance(dtype, torch.dtype) and dtype.is_floating_point)):
            raise ValueError(f"dtype must be one of {tuple(_DTYPES)} or a floating torch.dtype, got {dtype!r}")
        from sentence_transformers import SentenceTransformer

        callers_model = isinstance(model, SentenceTransformer)
        device = device or (model.device if callers_model else default_device())
        if callers_model:
            self.model = model.to(device)  # in place; a no-op on its own device
            card = getattr(model, "model_card_data", None)
            self.model_name = str(getattr(card, "base_model", None) or "SentenceTransformer")
        else:
            self.model_name = str(model)
            path = resolve_model_name(str(model))
            from smart_plugins.encoder.model_loading import (
                load_sentence_transformer,  # resolves saved token adapters
            )

            self.model = load_sentence_transformer(path, device=str(device), **(model_kwargs or {}))
        self.family = detect_family(self.model)
        if dtype is None and not callers_model:  # a model the caller passed keeps its dtype
            dtype = default_dtype(self.family, device)
        if dtype is not None:
            self.model.to(_DTYPES[dtype] if isinstance(dtype, str) else dtype)
        self.model.eval()
        self.token_policy = token_policy or TokenPolicy()
        self._init_multimodal(max_visual_tokens, visual_token_budget)
        self.batch_size = batch_size
        self.truncation = truncation
        self.chunk_overlap = chunk_overlap
        self.max_chunk_tokens = max_chunk_tokens
        if truncation == "chunk" and chunk_overlap > self.max_length // 2:
            raise ValueError(f"chunk_overlap must be at most half the model's max length ({self.max_length // 2}), got {chunk_overlap}")
        self._dropped_ids = self._family_dropped_ids(self.token_policy.dropped_token_ids(self.tokenizer))
        if not isinstance(hidden_layers, int) or hidden_layers < 1:
            raise ValueError(f"hidden_layers must be a positive integer, got {hidden_layers!r}")
        self._adapter = next((m for m in self.model if hasattr(m, "describe_adapter")), None)
        if hidden_layers > 1 and self.family != "text":
            raise ValueError("hidden_layers > 1 is only available for text encoders")
        if hidden_layers > 1 and self._adapter is not None:
            raise ValueError("hidden_layers > 1 gives a base model's raw layer states; this model has a token adapter")
        self.hidden_layers = hidden_layers
        if max(hidden_layers, int(getattr(self._adapter, "layers", 1))) > 1:
            expose_hidden_layers(self.model)
        if self.backend != "torch":
            self._use_backend(dtype, callers_model=callers_model)

    def _use_backend(self, dtype: Any, *, callers_model: bool) -> None:
        """Run the backbone through an exported graph (:func:`~smart_plugins.encoder.onnx_backend.use_backend`);
        in a copy of a ``SentenceTransformer`` the caller passed, never in their object."""
        if self.device.type != "cpu":
            raise ValueError(f"backend={self.backend!r} runs on the CPU; got device {str(self.device)!r} (use backend='torch' there)")
        if dtype is not None:
            raise ValueError(f"backend={self.backend!r} sets its own precision; dtype must be None, got {dtype!r}")
        from smart_plugins.encoder.onnx_backend import copy_for_swap, use_backend

        if callers_model:
            self.model = copy_for_swap(self.model)
        self.backend_info = use_backend(self.model, self.backend)

    # ------------------------------------------------------------------ multimodal families
    def _init_multimodal(self, max_visual_tokens: int | None, visual_token_budget: int | None) -> None:
        """Set up the per-family token path (see :mod:`smart_plugins.encoder.multimodal`)."""
        for name, value in (("max_visual_tokens", max_visual_tokens), ("visual_token_budget", visual_token_budget)):
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
                raise ValueError(f"{name} must be a positive integer or None, got {value!r}")
        self._taps = DualEncoderTaps.attach(backbone(self.model), model_type(self.model)) if self.family == "dual" else None
        self._visual_ids = torch.tensor(visual_token_ids(self.model) if self.family == "vlm" else [], dtype=torch.int64)
        self._skeletons: dict[tuple[Any, ...], list[int]] = {}
        self.visual_token_budget = visual_token_budget
        self.max_visual_tokens = max_visual_tokens
        if max_visual_tokens is not None and self.family == "vlm":
            cap_visual_tokens(self.model[0].processor, max_visual_tokens)

    def _family_dropped_ids(self, dropped: Tensor) -> Tensor:
        if self.family == "vlm" and self._visual_ids.numel():  # the page's patch vectors stay
            dropped = dropped[~torch.isin(dropped, self._visual_ids)]
        if self.family == "dual" and not self.token_policy.keep_special_tokens:
            dropped = torch.cat([dropped, torch.tensor([CLS_PATCH_TOKEN_ID])])
        return dropped

    @property
    def modalities(self) -> list[Any]:
        """What the loaded model encodes (``["text"]``, ``["text", "image"]``, ``[..., "message"]``)."""
        return list(getattr(self.model, "modalities", ["text"]))

    def _describe_multimodal(self) -> dict[str, Any]:
        from sentence_transformers.base.modality import format_modality

        return {
            "family": self.family,
            "modalities": [format_modality(m) for m in self.modalities],
            "visual_token_ids": self._visual_ids.tolist(),
            "max_visual_tokens": self.max_visual_tokens,
        }

    def _skeleton(self, prompt: str | None, extra: dict[str, Any]) -> list[int]:
        """Token ids the chat template renders around an empty input (cached per prompt / task)."""
        key = (prompt, tuple(sorted(extra.items())))
        if key not in self._skeletons:
            features = self.model.preprocess([""], prompt=prompt, **extra)
            ids, mask = features["input_ids"][0], features["attention_mask"][0]
            self._skeletons[key] = ids[mask.bool()].tolist()
        return self._skeletons[key]

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_transformers(
        cls,
        model_name_or_path: str,
        *,
        pooling: Literal["mean", "cls", "lasttoken", "max"] = "mean",
        normalize: bool = True,
        max_seq_length: int | None = None,
        **kwargs: Any,
    ) -> SmartEncoder:
        """Build an encoder from a plain transformers checkpoint with a declared pooling.

        Examples
        --------
        >>> enc = SmartEncoder.from_transformers("minilm", pooling="cls", device="cpu")
        >>> enc.pooling_mode
        'cls'
        """
        from sentence_transformers.sentence_transformer.modules import (
            Normalize,
            Pooling,
            Transformer,
        )

        path = resolve_model_name(model_name_or_path)
        transformer = Transformer(path, max_seq_length=max_seq_length)
        modules: list[torch.nn.Module] = [
            transformer,
            Pooling(transformer.get_embedding_dimension(), pooling_mode=pooling),
        ]
        if normalize:
            modules.append(Normalize())
        from sentence_transformers import SentenceTransformer

        model = SentenceTransformer(modules=modules, device=str(kwargs.pop("device", None) or default_device()))
        encoder = cls(model, device=model.device, **kwargs)
        encoder.model_name = model_name_or_path
        return encoder

    # ------------------------------------------------------------------ properties
    @property
    def tokenizer(self) -> Any:
        return self.model.tokenizer

    @property
    def device(self) -> torch.device:
        return self.model.device

    @property
    def max_length(self) -> int:
        return int(self.model.max_seq_length or self.tokenizer.model_max_length)

    @property
    def pooling_mode(self) -> str:
        for module in self.model:
            if hasattr(module, "pooling_mode"):
                mode = module.pooling_mode
                return mode if isinstance(mode, str) else "+".join(mode)
        return "unknown"

    @property
    def normalizes(self) -> bool:
        return any(type(module).__name__ == "Normalize" for module in self.model)

    @property
    def pooled_dim(self) -> int:
        dim = self.model.get_embedding_dimension()
        return int(self.model.truncate_dim or dim)

    @property
    def token_dim(self) -> int:
        adapter_dim = [getattr(m, "output_dim", None) for m in self.model if hasattr(m, "describe_adapter")]
        if adapter_dim:
            return int(adapter_dim[0])
        if self.family == "dual":  # tokens are projected into the pooled space
            return self.pooled_dim
        return int(self.model[0].get_embedding_dimension()) * getattr(self, "hidden_layers", 1)

    def describe(self) -> dict[str, Any]:
        """JSON-able identity of this encoder configuration (indexes and caches record it)."""
        adapters = [m.describe_adapter() for m in self.model if hasattr(m, "describe_adapter")]
        return {
            "model": self.model_name,
            "modules": [type(m).__name__ for m in self.model],
            "pooling": self.pooling_mode,
            "normalize": self.normalizes,
            "pooled_dim": self.pooled_dim,
            "token_dim": self.token_dim,
            "max_length": self.max_length,
            "token_policy": self.token_policy.describe(),
            "adapter": adapters[0] if adapters else None,
            **({"hidden_layers": self.hidden_layers} if getattr(self, "hidden_layers", 1) > 1 else {}),
            # only a backend whose vectors differ from torch's (int8) is part of the identity
            **({"backend": self.backend} if getattr(self, "backend", "torch") not in SAME_VECTORS else {}),
            **({"autocast": self.autocast} if getattr(self, "autocast", None) else {}),
            **({"multimodal": self._describe_multimodal()} if self.family != "text" else {}),
        }

    # ------------------------------------------------------------------ encoding
    def encode_queries(self, texts: str | Sequence[str], **kwargs: Any) -> EncodedTexts:
        """:meth:`encode` with the model's query prompt (if it has one)."""
        return self.encode(texts, kind="query", **kwargs)

    def encode_documents(self, texts: str | Sequence[str], **kwargs: Any) -> EncodedTexts:
        """:meth:`encode` with the model's document prompt (if it has one)."""
        return self.encode(texts, kind="document", **kwargs)

    def encode(
        self,
        texts: str | Sequence[str],
        *,
        kind: TextKind | None = None,
        prompt: str | None = None,
        prompt_name: str | None = None,
        batch_size: int | None = None,
        show_progress_bar: bool | None = None,
    ) -> EncodedTexts:
        """Encode ``texts``; returns pooled vectors and kept token vectors (CPU, float32).

        ``kind`` picks the model's ``"query"`` or ``"document"`` prompt like
        ``SentenceTransformer.encode_query`` / ``encode_document``; an explicit ``prompt`` or
        ``prompt_name`` wins, and ``kind=None`` uses no prompt (plain ``encode``).

        A multimodal model also takes what sentence-transformers 6 accepts for it: images (PIL,
        path, URL, array), ``{"text": ..., "image": ...}`` dicts and chat-style messages. Inputs
        are grouped by modality (one forward pass per batch of one modality, as
        ``SentenceTransformer.encode`` needs) and returned in the order given.

        ``show_progress_bar`` follows :mod:`smart_plugins.progress`: ``True`` draws the "Encoding"
        bar, ``False`` never does, and ``None`` draws it for more than 8 batches of text when the
        process-wide setting allows (by default: standard error is a terminal and the
        ``smart_plugins`` logger is at INFO or below).
        """
        multimodal = self.family != "text"
        items, kinds = validate_inputs(
            texts,
            modalities=self.modalities if multimodal else ("text",),
            supports=self.model.supports if multimodal else None,
            what="texts",
        )
        if not items:
            return EncodedTexts.empty(self.pooled_dim, self.token_dim)
        prompt = self._resolve_prompt(kind, prompt, prompt_name)
        batch_size = batch_size or self.batch_size
        if all(k == "text" for k in kinds):
            return self._encode_texts(items, prompt, kind, batch_size, show_progress_bar)
        groups: dict[str, list[int]] = {}
        for i, modality in enumerate(kinds):
            groups.setdefault(str(modality), []).append(i)
        parts, order = [], []
        for modality, indices in groups.items():
            group = [items[i] for i in indices]
            if modality == "text":
                parts.append(self._encode_texts(group, prompt, kind, batch_size, show_progress_bar))
            else:
                parts.append(self._encode_media(group, prompt, kind, batch_size))
            order.extend(indices)
        return EncodedTexts.concat(parts).select(inverse_order(order))

    def _encode_media(self, items: list[Any], prompt: str | None, kind: TextKind | None, batch_size: int) -> EncodedTexts:
        """Images, image+text dicts and messages: batched by count and by visual-token budget."""
        costs = visual_token_costs(items, self.model[0].processor, self.max_visual_tokens)
        collector, order = BatchCollector(), []
        for batch in plan_batches(costs, max_items=batch_size, budget=self.visual_token_budget):
            collector.add(self._forward([items[i] for i in batch], prompt, kind))
            order.extend(batch)
        return collector.assemble(order)

    def _encode_texts(
        self, items: list[str], prompt: str | None, kind: TextKind | None, batch_size: int, show_progress_bar: bool | None
    ) -> EncodedTexts:
        pieces = self._plan_pieces(items, prompt)
        order = sorted(range(len(pieces)), key=lambda i: -len(pieces[i].text))
        if show_progress_bar is None and len(pieces) <= 8 * batch_size:  # a short encode draws no bar
            show_progress_bar = False
        collector = BatchCollector()
        batches = range(0, len(order), batch_size)
        for start in track(batches, "Encoding", unit="batch", show_progress_bar=show_progress_bar):
            batch = [pieces[i] for i in order[start : start + batch_size]]
            collector.add(self._forward([p.text for p in batch], prompt, kind))
        if self.truncation == "warn":
            filled = (collector.lengths() >= self.max_length).nonzero().flatten().tolist()
            self._warn_if_truncated(items, prompt, [pieces[order[i]].text_index for i in filled])
        if len(pieces) == len(items):
            return collector.assemble(order)
        pooled_sorted, vecs_sorted, ids_sorted, pos_sorted = collector.rows()
        pos_sorted = [v + pieces[order[i]].position_shift for i, v in enumerate(pos_sorted)]  # chunk windows are shifted
        unsort = inverse_order(order)
        per_piece = [(vecs_sorted[j], ids_sorted[j], pos_sorted[j]) for j in unsort.tolist()]
        pooled, per_piece = self._merge_chunks(items, pieces, pooled_sorted[unsort], per_piece)
        return EncodedTexts.from_lists(
            pooled=pooled,
            token_vectors=[p[0] for p in per_piece],
            token_ids=[p[1] for p in per_piece],
            positions=[p[2] for p in per_piece],
        )

    def _resolve_prompt(self, kind: TextKind | None, prompt: str | None, prompt_name: str | None) -> str | None:
        if prompt is None and prompt_name is not None:
            if prompt_name not in self.model.prompts:
                raise ValueError(f"prompt_name {prompt_name!r} is not one of the model's prompts {sorted(self.model.prompts)}")
            prompt = self.model.prompts[prompt_name]
        if prompt is None and kind is not None:
            if kind not in _PROMPT_CANDIDATES:
                raise ValueError(f"kind must be 'query' or 'document', got {kind!r}")
            for name in _PROMPT_CANDIDATES[kind]:
                if name in self.model.prompts:
                    prompt = self.model.prompts[name]
                    break
        if prompt is None and self.model.default_prompt_name:
            prompt = self.model.prompts.get(self.model.default_prompt_name)
        return prompt or None

    def _plan_pieces(self, texts: list[str], prompt: str | None) -> list[_Piece]:
        """One piece per text; long texts become windows (``chunk``) or are reported (``warn``)."""
        prefix = prompt or ""
        limit = self.max_length
        whole = [_Piece(i, t) for i, t in enumerate(texts)]
        if self.truncation == "warn":
            return whole  # overflow is detected after the forward pass (rows that filled the limit)
        # Every token covers at least one character, so only texts at least this long can overflow.
        suspects = [i for i, t in enumerate(texts) if len(prefix) + len(t) > limit - 2]
        if not suspects:
            return whole
        encoded = self.tokenizer(
            [prefix + texts[i] for i in suspects],
            add_special_tokens=True,
            truncation=False,
            return_offsets_mapping=True,
            verbose=False,
        )
        spans_of = dict(zip(suspects, encoded["offset_mapping"]))
        too_long = [i for i, ids in zip(suspects, encoded["input_ids"]) if len(ids) > limit]
        cap = self.max_chunk_tokens
        for i, ids in zip(suspects, encoded["input_ids"]):
            if cap is not None and len(ids) > cap:
                raise ValueError(f"texts[{i}] has {len(ids):,} tokens, over max_chunk_tokens={cap:,} of truncation='chunk'; "
                                 "split it, or raise max_chunk_tokens (None: no cap)")
        if not too_long:
            return whole
        pieces: list[_Piece] = []
        long_set = set(too_long)
        for i, text in enumerate(texts):
            if i not in long_set:
                pieces.append(_Piece(i, text))
                continue
            pieces.extend(self._windows(i, text, spans_of[i], len(prefix), limit))
        return pieces

    def _warn_if_truncated(self, texts: list[str], prompt: str | None, candidates: list[int]) -> None:
        """Warn about the texts among ``candidates`` (rows that filled the limit) that really overflowed."""
        if not candidates:
            return
        prefix = prompt or ""
        encoded = self.tokenizer(
            [prefix + texts[i] for i in candidates], add_special_tokens=True, truncation=False, verbose=False
        )
        too_long = sorted(i for i, ids in zip(candidates, encoded["input_ids"]) if len(ids) > self.max_length)
        if too_long:
            shown = ", ".join(str(i) for i in too_long[:10]) + (" ..." if len(too_long) > 10 else "")
            warnings.warn(
                f"{len(too_long)} text(s) exceed the model's max length of {self.max_length} tokens and were truncated "
                f"(positions {shown}); pass truncation='chunk' to keep every token.",
                stacklevel=4,
            )

    def _windows(self, index: int, text: str, spans: list[tuple[int, int]], prefix_chars: int, limit: int) -> Iterator[_Piece]:
        """Split one long text at token boundaries into windows that fit the model."""
        special = self.tokenizer.num_special_tokens_to_add(pair=False)
        prompt_tokens = sum(1 for s, e in spans if e > s and s < prefix_chars)
        text_spans = [(s - prefix_chars, e - prefix_chars) for s, e in spans if e > s and s >= prefix_chars]
        room = max(8, limit - special - prompt_tokens)
        step = max(1, room - min(self.chunk_overlap, room // 2))
        for first in range(0, len(text_spans), step):
            window = text_spans[first : first + room]
            yield _Piece(index, text[window[0][0] : window[-1][1]], position_shift=first)
            if first + room >= len(text_spans):
                break

    def _merge_chunks(
        self,
        texts: list[str],
        pieces: list[_Piece],
        pooled: Tensor,
        per_piece: list[tuple[Tensor, Tensor, Tensor]],
    ) -> tuple[Tensor, list[tuple[Tensor, Tensor, Tensor]]]:
        merged_pooled = torch.zeros(len(texts), pooled.shape[1])
        counts = torch.zeros(len(texts))
        grouped: list[list[tuple[Tensor, Tensor, Tensor]]] = [[] for _ in texts]
        for piece, vector, tokens in zip(pieces, pooled, per_piece):
            merged_pooled[piece.text_index] += vector
            counts[piece.text_index] += 1
            grouped[piece.text_index].append(tokens)
        merged_pooled /= counts.unsqueeze(1)
        if self.normalizes:
            merged_pooled = F.normalize(merged_pooled, dim=-1)
        merged = [tuple(torch.cat([g[k] for g in group]) for k in range(3)) for group in grouped]
        return merged_pooled, merged  # type: ignore[return-value]

    @torch.inference_mode()
    def _forward(self, texts: list[Any], prompt: str | None, kind: TextKind | None) -> ForwardBatch:
        """One forward pass: pooled vectors and kept, normalised token vectors, packed, on the model's device."""
        extra = {"task": kind} if kind and "task" in self.model.get_model_kwargs() else {}
        features = self.model.preprocess(texts, prompt=prompt, **extra)
        prompt_length = features.get("prompt_length") if not self.token_policy.keep_prompt_tokens else None
        features = {k: v.to(self.device) if isinstance(v, Tensor) else v for k, v in features.items()}
        if self._taps is not None:  # dual encoder: token states captured inside the same call
            with self._taps.capture() as captured, autocast_context(self.device, self.autocast):
                out = self.model(features, **extra)
            states, input_ids, attention_mask = self._taps.token_states(captured, out)
        else:
            with autocast_context(self.device, self.autocast):
                out = self.model(features, **extra)
            states = out.get(ADAPTED_TOKENS_KEY, out["token_embeddings"])
            input_ids, attention_mask = out["input_ids"], out["attention_mask"]
        pooled = out["sentence_embedding"].float()
        if self.model.truncate_dim:
            pooled = pooled[:, : self.model.truncate_dim]
        if self.hidden_layers > 1:
            states = torch.cat(
                [*(F.normalize(h, dim=-1) for h in out["all_layer_embeddings"][-self.hidden_layers : -1]), F.normalize(states, dim=-1)],
                dim=-1,
            )
        weight_logits = out.get(TOKEN_WEIGHT_LOGITS_KEY)
        if "cu_seq_lens_q" in out:  # flash-attention kept the batch flat: re-pad it
            if weight_logits is not None:
                weight_logits = _repad(weight_logits.unsqueeze(-1), input_ids, out["cu_seq_lens_q"])[0].squeeze(-1)
            states, input_ids, attention_mask = _repad(states, input_ids, out["cu_seq_lens_q"])
        if isinstance(prompt_length, Tensor):
            prompt_length = int(prompt_length.reshape(-1)[0])
        keep = kept_token_mask(input_ids, attention_mask, self._dropped_ids, prompt_length)
        if self.family == "vlm":
            keep &= self._vlm_keep(input_ids, attention_mask, prompt, extra, kind)
        empty = ~keep.any(dim=1)
        if bool(empty.any()):  # e.g. a text of punctuation under skip_punctuation: keep its real tokens
            keep[empty] = attention_mask[empty].bool()
        position_in_text = torch.cumsum(attention_mask.to(torch.int64), dim=1) - 1
        counts = keep.sum(dim=1)
        vectors = F.normalize(states[keep].float(), dim=-1)
        if weight_logits is not None:  # a query under an adapter that weights query tokens
            vectors = weight_tokens(vectors, weight_logits[keep], counts)
        return ForwardBatch(
            pooled=pooled,
            vectors=vectors,
            token_ids=input_ids[keep].to(torch.int64),
            positions=position_in_text[keep],
            counts=counts,
            lengths=attention_mask.sum(dim=1).to(torch.int64),
        )


    def _vlm_keep(
        self, input_ids: Tensor, attention_mask: Tensor, prompt: str | None, extra: dict[str, Any], kind: TextKind | None
    ) -> Tensor:
        """Drop chat-template scaffolding; on queries, drop visual tokens when the policy says so."""
        keep = torch.ones_like(input_ids, dtype=torch.bool)
        if not self.token_policy.keep_special_tokens:
            keep &= template_mask(input_ids.cpu(), attention_mask.cpu(), self._skeleton(prompt, extra)).to(input_ids.device)
        if kind == "query" and not self.token_policy.query_visual_tokens and self._visual_ids.numel():
            keep &= ~torch.isin(input_ids, self._visual_ids.to(input_ids.device))
        return keep


def _repad(states: Tensor, input_ids: Tensor, cu_seq_lens: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    lengths = (cu_seq_lens[1:] - cu_seq_lens[:-1]).tolist()
    flat_states, flat_ids = states.reshape(-1, states.shape[-1]), input_ids.reshape(-1)
    padded_states = torch.nn.utils.rnn.pad_sequence(list(flat_states.split(lengths)), batch_first=True)
    padded_ids = torch.nn.utils.rnn.pad_sequence(list(flat_ids.split(lengths)), batch_first=True)
    mask = torch.zeros(padded_ids.shape, dtype=torch.int64, device=padded_ids.device)
    for row, n in enumerate(lengths):
        mask[row, :n] = 1
    return padded_states, padded_ids, mask


def expose_hidden_layers(model: Any) -> None:
    """Make the backbone (``model[0]``) return every layer's states (``all_layer_embeddings``).

    Examples
    --------
    >>> expose_hidden_layers(object())  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    ValueError: ...
    """
    transformer = model[0] if hasattr(model, "__getitem__") else None
    backbone = getattr(transformer, "model", None) or getattr(transformer, "auto_model", None)
    config = getattr(backbone, "config", None)
    if config is None:
        raise ValueError("cannot reach the backbone's config (model[0].model.config) to enable its hidden states")
    config.output_hidden_states = True


def _check_chunking(chunk_overlap: Any, max_chunk_tokens: Any) -> None:
    """Refuse chunk settings that would drop tokens silently or hold unbounded memory."""
    if isinstance(chunk_overlap, bool) or not isinstance(chunk_overlap, int) or chunk_overlap < 0:
        raise ValueError(f"chunk_overlap must be an integer >= 0, got {chunk_overlap!r}")
    if max_chunk_tokens is not None and (
        isinstance(max_chunk_tokens, bool) or not isinstance(max_chunk_tokens, int) or max_chunk_tokens < 1
    ):
        raise ValueError(f"max_chunk_tokens must be a positive integer or None, got {max_chunk_tokens!r}")


def default_device() -> str:
    """``"cuda"`` when a GPU is visible, else ``"cpu"``."""
    return "cuda" if torch.cuda.is_available() else "cpu"
