"""Contrastive objectives on SMART scores: in-batch InfoNCE on the late and the hybrid score.

Scores come from the library's one MaxSim kernel (:func:`smart_plugins.scoring.maxsim`, which
is differentiable: its segmented max passes gradients to the winning token pairs) and its
pooled cosine, so training optimises exactly the score used at search time.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from smart_plugins.encoder.smart_encoder import ADAPTED_TOKENS_KEY
from smart_plugins.encoder.token_weights import TOKEN_WEIGHT_LOGITS_KEY, weight_tokens
from smart_plugins.encoder.token_policy import TokenPolicy, kept_token_mask
from smart_plugins.scoring import ScoreWeights, maxsim, pooled_scores


@dataclass(frozen=True)
class LinearSchedule:
    """A weight that moves linearly from ``start`` to ``end`` over training (progress 0 -> 1).

    Examples
    --------
    >>> LinearSchedule(0.0, 1.0).value(0.25)
    0.25
    >>> LinearSchedule.constant(0.5).value(0.9)
    0.5
    """

    start: float
    end: float

    def __post_init__(self) -> None:
        for name in ("start", "end"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or value < 0 or value != value:
                raise ValueError(f"schedule {name} must be a number >= 0, got {value!r}")

    @classmethod
    def constant(cls, value: float) -> LinearSchedule:
        return cls(value, value)

    @classmethod
    def parse(cls, text: str) -> LinearSchedule:
        """``"0.5"`` (constant) or ``"0:1"`` (from 0 to 1)."""
        try:
            parts = [float(p) for p in str(text).split(":")]
        except ValueError:
            raise ValueError(f"a weight schedule looks like 0.5 or START:END, got {text!r}") from None
        if len(parts) == 1:
            return cls.constant(parts[0])
        if len(parts) == 2:
            return cls(parts[0], parts[1])
        raise ValueError(f"a weight schedule looks like 0.5 or START:END, got {text!r}")

    def value(self, progress: float) -> float:
        progress = min(max(float(progress), 0.0), 1.0)
        return self.start + (self.end - self.start) * progress


def info_nce(scores: Tensor, targets: Tensor, temperature: float) -> Tensor:
    """Mean cross-entropy of ``scores / temperature`` against the target column of each row.

    Examples
    --------
    >>> import torch
    >>> scores = torch.tensor([[0.9, 0.1], [0.2, 0.8]])
    >>> float(info_nce(scores, torch.tensor([0, 1]), 0.05)) < 1e-3
    True
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    return F.cross_entropy(scores / temperature, targets)


@dataclass(frozen=True)
class SmartObjective:
    """``late_weight * InfoNCE(late) + hybrid_weight(progress) * InfoNCE(hybrid)``, in-batch.

    Query ``i``'s positive is document ``i``; every other document in the batch (the other
    queries' positives and all hard negatives) is a negative.

    Parameters
    ----------
    temperature:
        InfoNCE temperature (scores are cosines, so ~0.03 is sharp enough).
    late_weight, hybrid_weight:
        Schedules of the two terms' weights (:class:`LinearSchedule`).
    score_weights:
        The λ of the hybrid score being trained (the one search will use).

    Examples
    --------
    >>> import torch
    >>> from smart_plugins.encoder import EncodedTexts
    >>> eye = torch.eye(3)
    >>> q = EncodedTexts.from_lists(eye[:2], [eye[:1], eye[1:2]])
    >>> d = EncodedTexts.from_lists(eye[:2], [eye[:1], eye[1:3]])
    >>> parts = SmartObjective().losses(q, d, progress=0.0)
    >>> sorted(parts), float(parts["loss"]) < 0.1
    (['hybrid', 'late', 'loss'], True)
    """

    temperature: float = 0.03
    late_weight: LinearSchedule = field(default_factory=lambda: LinearSchedule.constant(1.0))
    hybrid_weight: LinearSchedule = field(default_factory=lambda: LinearSchedule.constant(0.0))
    score_weights: ScoreWeights = field(default_factory=ScoreWeights)

    def __post_init__(self) -> None:
        if not self.temperature > 0:
            raise ValueError(f"temperature must be positive, got {self.temperature}")

    def losses(
        self, queries: Any, docs: Any, *, progress: float = 0.0, exclude: Tensor | None = None
    ) -> dict[str, Tensor]:
        """Weighted loss terms (``late``, ``hybrid``) and their sum (``loss``).

        ``queries`` / ``docs`` hold ``pooled``, ``tokens`` (unit vectors) and ``offsets``; the
        first ``len(queries)`` documents are the positives, in query order. ``exclude`` is an
        optional ``(Q, N)`` boolean mask of pairs left out of the softmax (e.g. another query's
        positive that is the same text as this query's positive).
        """
        n_queries = len(queries.offsets) - 1
        if len(docs.offsets) - 1 < n_queries:
            raise ValueError("a batch needs at least one document (the positive) per query")
        targets = torch.arange(n_queries, device=docs.tokens.device)
        late = maxsim(queries.tokens, queries.offsets, docs.tokens, docs.offsets)
        if exclude is not None:
            exclude = exclude.to(late.device).clone()
            exclude[targets, targets] = False
        w_late, w_hybrid = self.late_weight.value(progress), self.hybrid_weight.value(progress)
        zero = late.sum() * 0.0
        masked_late = late.masked_fill(exclude, float("-inf")) if exclude is not None else late
        terms = {"late": w_late * info_nce(masked_late, targets, self.temperature) if w_late else zero}
        if w_hybrid:
            pooled = pooled_scores(queries.pooled, docs.pooled).to(late.device)
            hybrid = self.score_weights.combine(pooled, late)
            if exclude is not None:
                hybrid = hybrid.masked_fill(exclude, float("-inf"))
            terms["hybrid"] = w_hybrid * info_nce(hybrid, targets, self.temperature)
        else:
            terms["hybrid"] = zero
        terms["loss"] = terms["late"] + terms["hybrid"]
        return terms


@dataclass(frozen=True)
class _Packed:
    pooled: Tensor
    tokens: Tensor
    offsets: Tensor


class SmartHybridLoss(torch.nn.Module):
    """A sentence-transformers loss on SMART scores, for ``SentenceTransformerTrainer``.

    Columns of the training dataset: ``(query, positive, negative_1, ...)``. Each column goes
    through the full model (so a trainable backbone, LoRA weights or an adapter all receive
    gradients); token vectors are the adapter's output when the model has one, else the
    last-layer states, with the same token policy as the encoder (specials and padding dropped).
    Returns the weighted ``late`` and ``hybrid`` terms (the trainer sums and logs them).

    Parameters
    ----------
    model:
        The ``SentenceTransformer`` being trained.
    objective:
        Temperature, term weights/schedules and λ (:class:`SmartObjective`).
    token_policy:
        Which token states count (default: as :class:`~smart_plugins.encoder.SmartEncoder`).

    Examples
    --------
    >>> from sentence_transformers import SentenceTransformer
    >>> model = SentenceTransformer("minilm-path")  # doctest: +SKIP
    >>> loss = SmartHybridLoss(model, SmartObjective(hybrid_weight=LinearSchedule(0, 1)))  # doctest: +SKIP
    """

    def __init__(self, model: Any, objective: SmartObjective | None = None, token_policy: TokenPolicy | None = None) -> None:
        super().__init__()
        self.model = model
        self.objective = objective or SmartObjective(hybrid_weight=LinearSchedule.constant(1.0))
        self.token_policy = token_policy or TokenPolicy()
        self._dropped_ids = self.token_policy.dropped_token_ids(model.tokenizer)
        self.progress = 0.0

    def set_progress(self, progress: float) -> None:
        """Where training stands (0 -> 1), for the weight schedules; see :class:`ScheduleCallback`."""
        self.progress = float(progress)

    def embed(self, features: dict[str, Tensor], kind: str | None = None) -> _Packed:
        """Pooled vectors and packed token vectors of one column (``kind`` "query" or "document"),
        with gradients: unit vectors, scaled by the adapter's query-token weights if it has them."""
        out = self.model(features, task=kind) if kind else self.model(features)
        states = out.get(ADAPTED_TOKENS_KEY, out["token_embeddings"])
        keep = kept_token_mask(out["input_ids"], out["attention_mask"], self._dropped_ids.to(states.device), None)
        empty = ~keep.any(dim=1)
        if bool(empty.any()):
            keep[empty] = out["attention_mask"][empty].bool()
        lengths = keep.sum(dim=1).cpu()
        offsets = torch.zeros(len(lengths) + 1, dtype=torch.int64)
        offsets[1:] = torch.cumsum(lengths, 0)
        tokens = F.normalize(states[keep].float(), dim=-1)
        logits = out.get(TOKEN_WEIGHT_LOGITS_KEY)
        if logits is not None:
            tokens = weight_tokens(tokens, logits[keep], lengths.to(tokens.device))
        return _Packed(out["sentence_embedding"].float(), tokens, offsets)

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor | None = None) -> dict[str, Tensor]:
        columns = [self.embed(features, "query" if i == 0 else "document") for i, features in enumerate(sentence_features)]
        if len(columns) < 2:
            raise ValueError(f"SmartHybridLoss needs (query, positive[, negatives...]) columns, got {len(columns)}")
        queries, doc_columns = columns[0], columns[1:]
        shift = torch.tensor([0] + [int(c.offsets[-1]) for c in doc_columns[:-1]]).cumsum(0)
        docs = _Packed(
            pooled=torch.cat([c.pooled for c in doc_columns]),
            tokens=torch.cat([c.tokens for c in doc_columns]),
            offsets=torch.cat([doc_columns[0].offsets[:1]] + [c.offsets[1:] + s for c, s in zip(doc_columns, shift)]),
        )
        terms = self.objective.losses(queries, docs, progress=self.progress)
        return {"late": terms["late"], "hybrid": terms["hybrid"]}

    @property
    def citation(self) -> str:
        return ""
