"""Train a :class:`TokenAdapter` on a frozen backbone, fast, from cached backbone states.

The backbone runs once over the distinct training texts (:class:`TokenStateCache`); each epoch
then only runs the adapter (LayerNorm + one matrix) and the MaxSim kernel, so a CPU trains
MiniLM's adapter in minutes. This is the default path for the frozen case. Full fine-tuning
(backbone unfrozen, or LoRA) goes through sentence-transformers' trainer instead; see
:mod:`smart_plugins.training.st_trainer`.
"""

from __future__ import annotations

import copy
import logging
import math
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from sentence_transformers import SentenceTransformer
from torch import Tensor

from smart_plugins.encoder import EncodedTexts, SmartEncoder, expose_hidden_layers
from smart_plugins.scoring import ScoreWeights, maxsim, pooled_scores, top_k
from smart_plugins.progress import track
from smart_plugins.encoder.token_adapter import TokenAdapter, find_adapter
from smart_plugins.training.cache import TokenStateCache
from smart_plugins.training.data import TrainingPair, unique_texts
from smart_plugins.training.losses import LinearSchedule, SmartObjective

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class AdapterTrainingConfig:
    """Settings of :func:`train_adapter`.

    Parameters
    ----------
    dim:
        Output size ``D`` of the token adapter.
    layers, query_weights:
        The adapter's optional parts (see :class:`~smart_plugins.encoder.token_adapter.TokenAdapter`):
        a learned mix of the last ``layers`` layers, and learned query-token weights. Off by
        default; ``layers > 1`` caches every mixed layer (``layers`` times the memory).
    epochs, batch_size, learning_rate, weight_decay:
        AdamW over the adapter's parameters; in-batch negatives, so bigger batches are harder.
    temperature, late_weight, hybrid_weight, score_weights:
        The :class:`~smart_plugins.training.losses.SmartObjective` (InfoNCE on the late score,
        optionally plus the hybrid score with a linear weight schedule).
    hard_negatives:
        Per query, this many extra negatives mined among the cached documents (0: in-batch
        negatives only).
    mine_by, mining_depth:
        How negatives are mined: ``"pooled"`` takes the frozen model's top pooled matches;
        ``"smart"`` re-scores the pooled top ``mining_depth`` with the frozen model's own SMART
        score (``score_weights``, no adapter) and takes its top mistakes, i.e. exactly the
        documents the untrained retriever confuses with the positive.
    sample_negatives:
        Draw each epoch's ``hard_negatives`` at random from the top ``mining_depth`` mined
        documents instead of always taking the top ones (more varied negatives, less
        over-fitting to a few).
    warmup, decay:
        Learning-rate schedule: linear warm-up over this share of the steps, then (``decay``)
        linear decay to zero; ``warmup=0, decay=False`` keeps it constant.
    seed:
        Seeds the adapter's initialisation and the batch order.

    The defaults are the recipe measured best on the three ``../shared/datasets`` tasks (see
    ``docs/training.md``): τ = 0.1 gave +0.9 to +1.9 pt late-only nDCG@10 over τ = 0.05 (the
    hybrid at λ 1:1 equal or slightly better), with warm-up + linear decay, 2 pooled-mined hard
    negatives and the hybrid term on from the start.

    Examples
    --------
    >>> AdapterTrainingConfig(dim=128).objective().temperature
    0.1
    """

    dim: int = 128
    layers: int = 1
    query_weights: bool = False
    epochs: int = 3
    batch_size: int = 32
    learning_rate: float = 5e-3
    weight_decay: float = 0.0
    temperature: float = 0.1
    late_weight: LinearSchedule = field(default_factory=lambda: LinearSchedule.constant(1.0))
    hybrid_weight: LinearSchedule = field(default_factory=lambda: LinearSchedule.constant(1.0))
    score_weights: ScoreWeights = field(default_factory=ScoreWeights)
    hard_negatives: int = 2
    mine_by: str = "pooled"
    mining_depth: int = 50
    sample_negatives: bool = False
    warmup: float = 0.05
    decay: bool = True
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("dim", "layers", "epochs", "batch_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if self.batch_size < 2:
            raise ValueError("batch_size must be at least 2 (in-batch negatives)")
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be positive, got {self.learning_rate}")
        if self.hard_negatives < 0:
            raise ValueError(f"hard_negatives must be >= 0, got {self.hard_negatives}")
        if self.mine_by not in ("pooled", "smart"):
            raise ValueError(f"mine_by must be 'pooled' or 'smart', got {self.mine_by!r}")
        if self.mining_depth <= self.hard_negatives:
            raise ValueError(f"mining_depth ({self.mining_depth}) must exceed hard_negatives ({self.hard_negatives})")
        if not 0.0 <= self.warmup < 1.0:
            raise ValueError(f"warmup is a share of the steps in [0, 1), got {self.warmup}")

    def objective(self) -> SmartObjective:
        return SmartObjective(
            temperature=self.temperature,
            late_weight=self.late_weight,
            hybrid_weight=self.hybrid_weight,
            score_weights=self.score_weights,
        )


@dataclass
class TrainingReport:
    """What :func:`train_adapter` did: sizes, timings and the loss per epoch."""

    pairs: int
    steps: int
    epoch_losses: list[float]
    cache_seconds: float
    train_seconds: float
    cache_bytes: int
    adapter: dict[str, Any]
    config: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def train_adapter(
    model: str | SentenceTransformer | SmartEncoder,
    pairs: Sequence[TrainingPair],
    config: AdapterTrainingConfig | None = None,
    *,
    device: str | None = None,
    cache_path: str | Path | None = None,
    cache: TokenStateCache | None = None,
    show_progress_bar: bool | None = None,
) -> tuple[SentenceTransformer, TrainingReport]:
    """Train a token adapter on ``pairs`` with the backbone frozen; return the model with it.

    The returned ``SentenceTransformer`` is the base model with the trained :class:`TokenAdapter`
    appended: save it with :func:`save_model` and load it back with ``SmartEncoder(path)``. Its
    pooled embeddings are exactly the base model's.

    Parameters
    ----------
    model:
        The base model (alias, path, ``SentenceTransformer`` or ``SmartEncoder``), without adapter.
    pairs:
        Training pairs (see :func:`~smart_plugins.training.data.load_pairs`).
    config:
        :class:`AdapterTrainingConfig`.
    cache_path:
        Keep the backbone states in this safetensors file (reused when texts and model match).
    cache:
        An already built :class:`TokenStateCache` holding every text of ``pairs``.
    show_progress_bar:
        Encoding and epoch bars: True, False, or None for the process-wide setting (see
        :mod:`smart_plugins.progress`).

    Examples
    --------
    >>> from smart_plugins.training import TrainingPair
    >>> pairs = [TrainingPair("red star", "a red star"), TrainingPair("blue moon", "the blue moon")]
    >>> model, report = train_adapter("minilm", pairs, AdapterTrainingConfig(dim=16, epochs=1))  # doctest: +SKIP
    >>> report.adapter["output_dim"]  # doctest: +SKIP
    16
    """
    config = config or AdapterTrainingConfig()
    pairs = list(pairs)
    if len(pairs) < 2:
        raise ValueError(f"training needs at least 2 pairs (in-batch negatives), got {len(pairs)}")
    encoder = model if isinstance(model, SmartEncoder) else SmartEncoder(model, device=device)
    if find_adapter(encoder.model) is not None:
        raise ValueError("the model already has a TokenAdapter; train from the base model")
    device = device or str(encoder.device)
    start = time.perf_counter()
    if cache is None:
        query_texts, doc_texts = unique_texts(pairs)
        cache = TokenStateCache.build(
            state_encoder(encoder, config.layers), query_texts, doc_texts, path=cache_path, show_progress_bar=show_progress_bar
        )
    cache_seconds = time.perf_counter() - start

    q_rows = _rows(cache.query_index, [p.query for p in pairs], "query")
    pos_rows = _rows(cache.doc_index, [p.positive for p in pairs], "document")
    neg_rows = _negative_rows(cache, pairs, pos_rows, q_rows, config)

    hidden = encoder.model[0].get_embedding_dimension()
    adapter = TokenAdapter(
        int(hidden), config.dim, layers=config.layers, query_weights=config.query_weights, seed=config.seed
    ).to(device)
    if cache.docs.tokens.shape[1] != adapter.state_size:
        raise ValueError(
            f"the state cache holds {cache.docs.tokens.shape[1]}-value token states but an adapter over "
            f"{config.layers} layer(s) of size {hidden} reads {adapter.state_size}: build the cache with "
            f"state_encoder(encoder, {config.layers})"
        )
    optimizer = torch.optim.AdamW(adapter.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    objective = config.objective()
    generator = torch.Generator().manual_seed(config.seed)
    n_batches = math.ceil(len(pairs) / config.batch_size)
    total_steps = n_batches * config.epochs
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _lr_factor(config, total_steps))
    step, epoch_losses = 0, []
    start = time.perf_counter()
    adapter.train()
    for epoch in range(config.epochs):
        order = torch.randperm(len(pairs), generator=generator)
        running, counted = 0.0, 0
        batches = [order[i : i + config.batch_size] for i in range(0, len(pairs), config.batch_size)]
        for batch in track(batches, f"epoch {epoch + 1}/{config.epochs}", unit="batch", show_progress_bar=show_progress_bar):
            if len(batch) < 2:
                continue
            doc_rows = pos_rows[batch]
            if neg_rows is not None:
                doc_rows = torch.cat([doc_rows, _pick_negatives(neg_rows[batch], config, generator).reshape(-1)])
            queries = _project(adapter, cache.queries.select(q_rows[batch]), device, "query")
            docs = _project(adapter, cache.docs.select(doc_rows), device, "document")
            exclude = doc_rows.unsqueeze(0) == pos_rows[batch].unsqueeze(1)  # same text as the positive
            terms = objective.losses(queries, docs, progress=step / max(1, total_steps - 1), exclude=exclude)
            optimizer.zero_grad(set_to_none=True)
            terms["loss"].backward()
            optimizer.step()
            scheduler.step()
            running += float(terms["loss"].detach()) * len(batch)
            counted += len(batch)
            step += 1
        epoch_losses.append(running / max(1, counted))
        logger.info("epoch %d: loss %.4f", epoch + 1, epoch_losses[-1])
    train_seconds = time.perf_counter() - start
    adapter.eval()
    trained = copy.deepcopy(encoder.model)  # the caller's model stays adapter-free
    if config.layers > 1:
        expose_hidden_layers(trained)  # also saved in the backbone's config, so any load mixes layers
    trained.append(adapter)
    report = TrainingReport(
        pairs=len(pairs),
        steps=step,
        epoch_losses=epoch_losses,
        cache_seconds=cache_seconds,
        train_seconds=train_seconds,
        cache_bytes=cache.nbytes,
        adapter=adapter.describe_adapter(),
        config={k: (asdict(v) if hasattr(v, "__dataclass_fields__") else v) for k, v in asdict(config).items()},
    )
    return trained, report


@dataclass(frozen=True)
class _Projected:
    pooled: Tensor
    tokens: Tensor
    offsets: Tensor


def _project(adapter: TokenAdapter, encoded: EncodedTexts, device: str, kind: str) -> _Projected:
    states = encoded.tokens.to(device=device, dtype=torch.float32)
    tokens = adapter.encode_packed(states, encoded.lengths.to(device), kind=kind)
    return _Projected(encoded.pooled.to(device=device, dtype=torch.float32), tokens, encoded.offsets)


def state_encoder(encoder: SmartEncoder, layers: int) -> SmartEncoder:
    """The encoder whose token vectors an adapter over ``layers`` layers trains on.

    ``layers == 1``: ``encoder`` itself; else an encoder sharing its model that returns the last
    ``layers`` layers' states side by side (``SmartEncoder(hidden_layers=layers)``).
    """
    if layers == 1:
        return encoder
    out = SmartEncoder(
        encoder.model,
        device=encoder.device,
        token_policy=encoder.token_policy,
        batch_size=encoder.batch_size,
        truncation=encoder.truncation,
        chunk_overlap=encoder.chunk_overlap,
        hidden_layers=layers,
    )
    out.model_name = encoder.model_name
    return out


def _rows(index: dict[str, int], texts: Sequence[str], what: str) -> Tensor:
    try:
        return torch.tensor([index[t] for t in texts], dtype=torch.int64)
    except KeyError as exc:
        raise KeyError(f"{what} text {str(exc.args[0])[:60]!r} is not in the state cache") from None


def _lr_factor(config: AdapterTrainingConfig, total_steps: int) -> Callable[[int], float]:
    """Multiplier of the learning rate at each step: linear warm-up, then constant or linear decay."""
    warmup = int(config.warmup * total_steps)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1)
        if config.decay:
            return max(0.0, (total_steps - step) / max(1, total_steps - warmup))
        return 1.0

    return factor


def _negative_rows(
    cache: TokenStateCache, pairs: Sequence[TrainingPair], pos_rows: Tensor, q_rows: Tensor, config: AdapterTrainingConfig
) -> Tensor | None:
    """``(P, width)`` document rows: the pairs' own negatives first, then mined ones (see ``mine_by``).

    ``width`` is ``hard_negatives``, or ``mining_depth`` when negatives are sampled per epoch.
    """
    if config.hard_negatives == 0:
        return None
    mined = _mine(cache, pos_rows, q_rows, config)
    k = min(config.mining_depth, len(cache.docs) - 1) if config.sample_negatives else config.hard_negatives
    k = max(k, config.hard_negatives)
    out = torch.empty(len(pairs), k, dtype=torch.int64)
    for i, pair in enumerate(pairs):
        chosen = [cache.doc_index[t] for t in pair.negatives[:k]]
        chosen += [j for j in mined[i] if j not in chosen][: k - len(chosen)]
        while len(chosen) < k:  # tiny corpora: repeat the last negative
            chosen.append(chosen[-1])
        out[i] = torch.tensor(chosen)
    return out


def _pick_negatives(ranked: Tensor, config: AdapterTrainingConfig, generator: torch.Generator) -> Tensor:
    """This batch's ``(B, hard_negatives)`` rows: the top ones, or a random draw from ``ranked``."""
    k = config.hard_negatives
    if not config.sample_negatives or ranked.shape[1] == k:
        return ranked[:, :k]
    draw = torch.rand(ranked.shape, generator=generator).argsort(dim=1)[:, :k]
    return torch.gather(ranked, 1, draw)


def _mine(cache: TokenStateCache, pos_rows: Tensor, q_rows: Tensor, config: AdapterTrainingConfig) -> list[list[int]]:
    """Per pair, cached document rows ranked as the frozen model ranks them (positive left out)."""
    n_docs = len(cache.docs)
    hidden = cache.docs.tokens.shape[1] // config.layers
    deep = config.mine_by == "smart" or config.sample_negatives
    depth = min(config.mining_depth if deep else config.hard_negatives, n_docs - 1)
    out: list[list[int]] = []
    for start in range(0, len(q_rows), 1024):  # bounded memory: a block of queries at a time
        rows = q_rows[start : start + 1024]
        sims = pooled_scores(cache.queries.pooled[rows].float(), cache.docs.pooled.float())
        sims[torch.arange(len(rows)), pos_rows[start : start + len(rows)]] = float("-inf")
        top_values, top_indices = top_k(sims, depth)
        for i in range(len(rows)):
            candidates = top_indices[i]
            if config.mine_by == "smart":
                query = cache.queries.select([int(rows[i])])
                docs = cache.docs.select(candidates)
                late = maxsim(_last_layer(query.tokens, hidden), query.offsets, _last_layer(docs.tokens, hidden), docs.offsets)[0]
                hybrid = config.score_weights.combine(top_values[i], late)
                candidates = candidates[top_k(hybrid, len(hybrid))[1]]
            out.append(candidates.tolist())
    return out


def _last_layer(tokens: Tensor, hidden: int) -> Tensor:
    """The last layer's unit vectors out of cached states (several layers side by side)."""
    return torch.nn.functional.normalize(tokens[:, -hidden:].float(), dim=-1)


def save_model(model: SentenceTransformer, path: str | Path, *, overwrite: bool = False) -> Path:
    """Save ``model`` (with its adapter) to ``path`` atomically: a finished folder or nothing.

    Examples
    --------
    >>> save_model(model, "out/minilm-adapter-128")  # doctest: +SKIP
    PosixPath('out/minilm-adapter-128')
    """
    target = Path(path)
    if target.exists() and any(target.iterdir()) if target.is_dir() else target.exists():
        if not overwrite:
            raise FileExistsError(f"{target} exists and is not empty; choose another folder or overwrite it")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        model.save(str(staging))
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old.", dir=target.parent))
            os.replace(target, old / "model")
            os.replace(staging, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(staging, target)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return target
