"""Full fine-tuning on SMART scores through sentence-transformers' ``SentenceTransformerTrainer``.

Use this when the backbone itself trains (all weights, or LoRA weights added with
``model.add_adapter(peft_config)`` when ``peft`` is installed), or to train a token adapter the
trainer's way. Every step runs the backbone forward, so for a frozen backbone the cached path
(:func:`smart_plugins.training.train_adapter`) is much faster.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sentence_transformers import SentenceTransformer

from smart_plugins.encoder.token_adapter import TokenAdapter
from smart_plugins.training.data import TrainingPair
from smart_plugins.training.losses import SmartHybridLoss

try:  # transformers is a dependency of sentence-transformers; the callback base is optional sugar
    from transformers import TrainerCallback
except ImportError:  # pragma: no cover
    TrainerCallback = object  # type: ignore[assignment,misc]


class ScheduleCallback(TrainerCallback):  # type: ignore[misc,valid-type]
    """Tells a :class:`SmartHybridLoss` how far training is, for its weight schedules.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> class Loss:
    ...     progress = 0.0
    ...     def set_progress(self, p):
    ...         self.progress = p
    >>> loss = Loss()
    >>> ScheduleCallback(loss).on_step_begin(None, SimpleNamespace(global_step=5, max_steps=11), None)
    >>> loss.progress
    0.5
    """

    def __init__(self, loss: Any) -> None:
        self.loss = loss

    def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        total = max(1, int(state.max_steps or 1) - 1)
        self.loss.set_progress(min(1.0, state.global_step / total))


def freeze_backbone(model: SentenceTransformer) -> list[str]:
    """Freeze every parameter except those of :class:`TokenAdapter` modules; return the trainable names.

    Examples
    --------
    >>> import torch
    >>> seq = torch.nn.Sequential(torch.nn.Linear(2, 2), TokenAdapter(2, 2))
    >>> freeze_backbone(seq)
    ['1.norm.weight', '1.norm.bias', '1.linear.weight']
    """
    trainable = []
    for name, module in model.named_children():
        keep = isinstance(module, TokenAdapter)
        for param_name, param in module.named_parameters():
            param.requires_grad_(keep)
            if keep:
                trainable.append(f"{name}.{param_name}")
    return trainable


def pairs_dataset(pairs: Sequence[TrainingPair]) -> Any:
    """A ``datasets.Dataset`` with columns ``query``, ``positive``, ``negative_1``, ... (needs ``datasets``)."""
    try:
        from datasets import Dataset
    except ImportError as exc:
        raise ModuleNotFoundError(
            "the sentence-transformers trainer path needs 'datasets' and 'accelerate': pip install 'smart-plugins[train]'"
        ) from exc
    n_neg = {len(p.negatives) for p in pairs}
    if len(n_neg) > 1:
        raise ValueError(f"every pair needs the same number of negatives for the trainer, got {sorted(n_neg)}")
    k = n_neg.pop() if n_neg else 0
    columns: dict[str, list[str]] = {"query": [p.query for p in pairs], "positive": [p.positive for p in pairs]}
    for i in range(k):
        columns[f"negative_{i + 1}"] = [p.negatives[i] for p in pairs]
    return Dataset.from_dict(columns)


def fit_with_sentence_transformers(
    model: SentenceTransformer,
    pairs: Sequence[TrainingPair],
    loss: SmartHybridLoss | None = None,
    *,
    args: Any = None,
    output_dir: str = "smart-plugins-training",
    **trainer_kwargs: Any,
) -> Any:
    """Train ``model`` on ``pairs`` with ``SentenceTransformerTrainer`` and a :class:`SmartHybridLoss`.

    Whatever has ``requires_grad`` trains: call :func:`freeze_backbone` first to train only a
    token adapter, or add LoRA weights (``model.add_adapter(LoraConfig(...))``) to fine-tune
    cheaply. Returns the trainer (after ``train()``).

    Examples
    --------
    >>> from sentence_transformers import SentenceTransformer
    >>> model = SentenceTransformer("minilm-path")  # doctest: +SKIP
    >>> trainer = fit_with_sentence_transformers(model, pairs)  # doctest: +SKIP
    """
    from sentence_transformers import (
        SentenceTransformerTrainer,
        SentenceTransformerTrainingArguments,
    )

    if len(pairs) < 2:
        raise ValueError(f"training needs at least 2 pairs, got {len(pairs)}")
    loss = loss or SmartHybridLoss(model)
    if args is None:
        args = SentenceTransformerTrainingArguments(
            output_dir=output_dir, num_train_epochs=1, per_device_train_batch_size=32, learning_rate=2e-5,
            save_strategy="no", report_to="none", logging_steps=10,
        )
    callbacks = list(trainer_kwargs.pop("callbacks", [])) + [ScheduleCallback(loss)]
    trainer = SentenceTransformerTrainer(
        model=model, args=args, train_dataset=pairs_dataset(pairs), loss=loss, callbacks=callbacks, **trainer_kwargs
    )
    trainer.train()
    return trainer
