"""Post-training: a token adapter on the frozen backbone, and a SMART hybrid fine-tuning loss.

Frozen backbone (default, fast): :func:`train_adapter` caches the backbone's token states once and
trains a :class:`TokenAdapter` on them. Full fine-tuning (backbone unfrozen or LoRA):
:func:`fit_with_sentence_transformers` with :class:`SmartHybridLoss` through
``SentenceTransformerTrainer``.
"""

from smart_plugins.encoder.token_adapter import TokenAdapter, attach_adapter, find_adapter
from smart_plugins.training.cache import TokenStateCache
from smart_plugins.training.data import TrainingPair, load_pairs, unique_texts
from smart_plugins.encoder.model_loading import load_sentence_transformer
from smart_plugins.training.losses import (
    LinearSchedule,
    SmartHybridLoss,
    SmartObjective,
    info_nce,
)
from smart_plugins.training.st_trainer import (
    ScheduleCallback,
    fit_with_sentence_transformers,
    freeze_backbone,
)
from smart_plugins.training.trainer import (
    AdapterTrainingConfig,
    TrainingReport,
    save_model,
    train_adapter,
    state_encoder,
)

__all__ = [
    "AdapterTrainingConfig",
    "LinearSchedule",
    "ScheduleCallback",
    "SmartHybridLoss",
    "SmartObjective",
    "TokenAdapter",
    "TokenStateCache",
    "TrainingPair",
    "TrainingReport",
    "attach_adapter",
    "find_adapter",
    "fit_with_sentence_transformers",
    "freeze_backbone",
    "info_nce",
    "load_pairs",
    "load_sentence_transformer",
    "save_model",
    "state_encoder",
    "train_adapter",
    "unique_texts",
]
