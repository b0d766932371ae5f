"""A drop-in ``SentenceTransformer`` with SMART extras.

:class:`SmartSentenceTransformer` *is* a ``SentenceTransformer`` (a subclass that adds no module
to the model): ``encode()``, ``encode_query()``, ``similarity()`` on embeddings, training and
``save()`` behave exactly as before. On top it offers the token states and the hybrid score:

- :meth:`~SmartSentenceTransformer.encode_smart` -> :class:`~smart_plugins.encoder.EncodedTexts`
  (pooled + kept token vectors from one forward pass),
- :meth:`~SmartSentenceTransformer.similarity` given two ``EncodedTexts`` -> hybrid scores,
- :meth:`~SmartSentenceTransformer.smart_scores` / :meth:`~SmartSentenceTransformer.rank` on texts.

Saving and loading
------------------
``save(path)`` writes a plain sentence-transformers folder (every module is a
``sentence_transformers.*`` class) plus ``smart_plugins.json`` holding the SMART settings
(weights, token policy). So ``SentenceTransformer(path)`` loads it unchanged without
``trust_remote_code`` and ``SmartSentenceTransformer(path)`` restores the SMART settings.
A custom module class would not round-trip like that: since sentence-transformers 6.0 any
``modules.json`` type outside ``sentence_transformers.*`` needs ``trust_remote_code=True``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sentence_transformers import SentenceTransformer
from smart_plugins.integrations._common import WeightsLike, as_weights
from torch import Tensor

from smart_plugins.atomic import atomic_write_text
from smart_plugins.encoder import EncodedTexts, SmartEncoder, TokenPolicy
from smart_plugins.models import resolve_model_name
from smart_plugins.rerank import rerank_texts
from smart_plugins.scoring import ScoreWeights, SmartScores, smart_scores

#: File, next to ``modules.json``, that holds the SMART settings of a saved model.
SMART_CONFIG_FILE = "smart_plugins.json"
_FORMAT_VERSION = 1


class SmartSentenceTransformer(SentenceTransformer):
    """A ``SentenceTransformer`` that also gives token states and SMART hybrid scores.

    Parameters
    ----------
    model_name_or_path:
        Anything ``SentenceTransformer`` accepts, plus the packaged aliases ``"minilm"`` and
        ``"mpnet"``. A folder saved by this class restores its SMART settings.
    weights:
        Hybrid weights (``ScoreWeights``, ``"POOL:LATE"``, ``{"pool":..,"late":..}``);
        default: the saved setting, else ``1:1``.
    token_policy:
        Which token states are kept; default: the saved setting, else ``TokenPolicy()``.
    **kwargs:
        Passed to ``SentenceTransformer`` unchanged (``device``, ``modules``, ``prompts``, ...).

    Examples
    --------
    >>> import tempfile
    >>> from sentence_transformers import SentenceTransformer
    >>> model = SmartSentenceTransformer("minilm", device="cpu", weights="0.5:1")
    >>> texts = ["Debug symbols for libfoo.", "Documentation for libfoo."]
    >>> plain = SentenceTransformer(model.model_path, device="cpu")
    >>> bool((model.encode(texts) == plain.encode(texts)).all())  # drop-in: same output
    True
    >>> q, d = model.encode_smart_queries(["debug symbols"]), model.encode_smart_documents(texts)
    >>> model.similarity(q, d).argmax().item()  # EncodedTexts in -> hybrid scores out
    0
    >>> [hit["corpus_id"] for hit in model.rank("debug symbols", texts)]  # CrossEncoder.rank's shape
    [0, 1]
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     model.save(folder)
    ...     again = SmartSentenceTransformer(folder, device="cpu")
    ...     plain_again = SentenceTransformer(folder, device="cpu")  # no trust_remote_code
    >>> again.smart_weights
    ScoreWeights(pool=0.5, late=1.0)
    """

    def __init__(
        self,
        model_name_or_path: str | None = None,
        *,
        weights: WeightsLike = None,
        token_policy: TokenPolicy | None = None,
        **kwargs: Any,
    ) -> None:
        saved: dict[str, Any] = {}
        if model_name_or_path is not None:
            model_name_or_path = resolve_model_name(str(model_name_or_path))
            saved = read_smart_config(model_name_or_path)
        super().__init__(model_name_or_path, **kwargs)
        self.model_path = model_name_or_path
        self.smart_weights: ScoreWeights = as_weights(weights) or ScoreWeights(**saved.get("weights", {}))
        if token_policy is None:
            token_policy = TokenPolicy.from_description(saved.get("token_policy", {}))
        self.token_policy = token_policy
        self._smart_encoder: SmartEncoder | None = None

    @classmethod
    def from_model(
        cls, model: SentenceTransformer, *, weights: WeightsLike = None, token_policy: TokenPolicy | None = None
    ) -> SmartSentenceTransformer:
        """Wrap an already loaded ``SentenceTransformer``; its modules (weights) are shared, not copied.

        Examples
        --------
        >>> from sentence_transformers import SentenceTransformer
        >>> from smart_plugins.models import resolve_model_name
        >>> plain = SentenceTransformer(resolve_model_name("minilm"), device="cpu")
        >>> smart = SmartSentenceTransformer.from_model(plain)
        >>> smart[0] is plain[0]
        True
        """
        if not isinstance(model, SentenceTransformer):
            raise TypeError(f"from_model needs a SentenceTransformer, got {type(model).__name__}")
        return cls(
            modules=list(model),
            device=str(model.device),
            prompts=dict(model.prompts),
            default_prompt_name=model.default_prompt_name,
            similarity_fn_name=model.similarity_fn_name,
            truncate_dim=model.truncate_dim,
            weights=weights,
            token_policy=token_policy,
        )

    # ------------------------------------------------------------------ SMART extras
    @property
    def smart_encoder(self) -> SmartEncoder:
        """The :class:`SmartEncoder` over this very model (built on first use, shares the weights)."""
        if self._smart_encoder is None or self._smart_encoder.token_policy != self.token_policy:
            self._smart_encoder = SmartEncoder(self, device=self.device, token_policy=self.token_policy)
            if self.model_path:
                self._smart_encoder.model_name = str(self.model_path)
        return self._smart_encoder

    def encode_smart(self, texts: str | Sequence[str], **kwargs: Any) -> EncodedTexts:
        """Pooled embeddings and kept token vectors in one pass (see :meth:`SmartEncoder.encode`)."""
        return self.smart_encoder.encode(texts, **kwargs)

    def encode_smart_queries(self, texts: str | Sequence[str], **kwargs: Any) -> EncodedTexts:
        """:meth:`encode_smart` with the model's query prompt."""
        return self.smart_encoder.encode_queries(texts, **kwargs)

    def encode_smart_documents(self, texts: str | Sequence[str], **kwargs: Any) -> EncodedTexts:
        """:meth:`encode_smart` with the model's document prompt."""
        return self.smart_encoder.encode_documents(texts, **kwargs)

    def similarity(self, embeddings1: Any, embeddings2: Any) -> Tensor:
        """Hybrid ``(Q, N)`` scores for two ``EncodedTexts``; otherwise the usual embedding similarity."""
        if isinstance(embeddings1, EncodedTexts) and isinstance(embeddings2, EncodedTexts):
            return smart_scores(embeddings1, embeddings2, self.smart_weights).hybrid
        if isinstance(embeddings1, EncodedTexts) or isinstance(embeddings2, EncodedTexts):
            raise TypeError("similarity needs two EncodedTexts (hybrid) or two embedding arrays, not a mix")
        return super().similarity(embeddings1, embeddings2)

    def smart_scores(
        self, queries: str | Sequence[str], documents: str | Sequence[str], *, weights: WeightsLike = None
    ) -> SmartScores:
        """Pooled, late and hybrid ``(Q, N)`` score matrices of query texts against document texts."""
        return smart_scores(
            self.encode_smart_queries(queries),
            self.encode_smart_documents(documents),
            as_weights(weights) or self.smart_weights,
        )

    def rank(
        self,
        query: str,
        documents: Sequence[str],
        *,
        top_k: int | None = None,
        return_documents: bool = False,
        weights: WeightsLike = None,
    ) -> list[dict[str, Any]]:
        """SMART-rerank ``documents`` for ``query`` in one batched pass, shaped like ``CrossEncoder.rank``.

        Returns ``[{"corpus_id": i, "score": hybrid}, ...]`` best first (``"text"`` added with
        ``return_documents=True``), at most ``top_k`` entries.

        Examples
        --------
        >>> model = SmartSentenceTransformer("minilm", device="cpu")
        >>> model.rank("debug symbols", ["Docs for libfoo.", "Debug symbols for libfoo."], top_k=1, return_documents=True)[0]["text"]
        'Debug symbols for libfoo.'
        """
        if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k <= 0):
            raise ValueError(f"top_k must be a positive integer or None, got {top_k!r}")
        ranked = rerank_texts(self.smart_encoder, query, documents, k=top_k, weights=as_weights(weights) or self.smart_weights)
        out: list[dict[str, Any]] = []
        for r in ranked:
            out.append({"corpus_id": r.index, "score": r.score})
            if return_documents:
                out[-1]["text"] = documents[r.index]
        return out

    def smart_config(self) -> dict[str, Any]:
        """The JSON-able SMART settings that :meth:`save` writes."""
        return {
            "format_version": _FORMAT_VERSION,
            "weights": self.smart_weights.as_dict(),
            "token_policy": self.token_policy.describe(),
        }

    # ------------------------------------------------------------------ persistence
    def save(self, path: str, *args: Any, **kwargs: Any) -> None:
        """``SentenceTransformer.save`` plus ``smart_plugins.json`` (written atomically); the model card
        (``README.md``) gets a section stating the SMART settings."""
        super().save(path, *args, **kwargs)
        _write_json_atomic(Path(path) / SMART_CONFIG_FILE, self.smart_config())
        card = Path(path) / "README.md"
        if card.is_file():
            atomic_write_text(card, card.read_text(encoding="utf-8").rstrip("\n") + "\n\n" + self.smart_card_section())

    def smart_card_section(self) -> str:
        """The model-card section naming the SMART settings: weights, token policy, token adapter."""
        adapters = [m for m in self if type(m).__name__ == "TokenAdapter"]
        adapter = "none (the model's own token states)"
        if adapters:
            out_dim = getattr(adapters[0], "output_dim", None)
            adapter = "a trained smart-plugins TokenAdapter" + (f" ({out_dim}-d token vectors)" if out_dim else "")
        policy = json.dumps(self.token_policy.describe(), sort_keys=True)
        return (
            "## SMART settings (smart-plugins)\n\n"
            "Loaded with `smart_plugins.integrations.sentence_transformers.SmartSentenceTransformer`, this model also\n"
            "scores with the SMART hybrid `pool * cos(pooled) + late * MaxSim(tokens)`:\n\n"
            f"- hybrid weights: pool {self.smart_weights.pool:g}, late {self.smart_weights.late:g}\n"
            f"- token policy: `{policy}`\n"
            f"- token adapter: {adapter}\n"
            f"- settings file: `{SMART_CONFIG_FILE}`\n"
        )

def read_smart_config(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The SMART settings saved in a model folder (``{}`` when it has none or is not a folder)."""
    file = Path(path) / SMART_CONFIG_FILE
    if not file.is_file():
        return {}
    try:
        config = json.loads(file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{file} is not valid JSON: {exc}") from exc
    if not isinstance(config, dict) or config.get("format_version") != _FORMAT_VERSION:
        raise ValueError(f"{file} is not a smart-plugins model config of format version {_FORMAT_VERSION}")
    return config


def _write_json_atomic(target: Path, data: Any) -> None:
    atomic_write_text(target, json.dumps(data, indent=2, sort_keys=True))


__all__ = ["SMART_CONFIG_FILE", "SmartSentenceTransformer", "read_smart_config"]
