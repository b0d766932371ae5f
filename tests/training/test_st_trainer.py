"""SmartHybridLoss through sentence-transformers' trainer: full fine-tuning and adapter-only."""

from __future__ import annotations

import pytest
import torch
from sentence_transformers import SentenceTransformer

from smart_plugins.encoder import SmartEncoder
from smart_plugins.scoring import ScoreWeights, smart_scores
from smart_plugins.training import (
    LinearSchedule,
    SmartHybridLoss,
    SmartObjective,
    TrainingPair,
    attach_adapter,
    fit_with_sentence_transformers,
    freeze_backbone,
)

pytest.importorskip("datasets")
pytest.importorskip("accelerate")

PAIRS = [
    TrainingPair("red star", "a red star over the server", ("blue moon over the client",)),
    TrainingPair("blue moon", "the blue moon client", ("red star in the index",)),
    TrainingPair("python tool", "python command line tool", ("java runtime library",)),
    TrainingPair("java library", "java runtime library files", ("python debug files",)),
]


def _args(tmp_path, **kw):
    from sentence_transformers import SentenceTransformerTrainingArguments

    base = dict(
        output_dir=str(tmp_path / "out"), num_train_epochs=3, per_device_train_batch_size=4, learning_rate=1e-3,
        save_strategy="no", report_to="none", logging_steps=1, use_cpu=True, seed=0,
    )
    base.update(kw)
    return SentenceTransformerTrainingArguments(**base)


def test_loss_matches_the_scorer(tiny_model_dir):
    """The loss's hybrid logits are the library's own scores of the same texts."""
    model = SentenceTransformer(str(tiny_model_dir), device="cpu")
    loss = SmartHybridLoss(model, SmartObjective(temperature=1.0, late_weight=LinearSchedule.constant(0.0),
                                                 hybrid_weight=LinearSchedule.constant(1.0)))
    queries, docs = [p.query for p in PAIRS], [p.positive for p in PAIRS]
    features = [model.tokenize(queries), model.tokenize(docs)]
    with torch.no_grad():
        value = loss(features, None)["hybrid"]
    encoder = SmartEncoder(model, device="cpu")
    scores = smart_scores(encoder.encode(queries), encoder.encode(docs), ScoreWeights(1, 1)).hybrid
    expected = torch.nn.functional.cross_entropy(scores, torch.arange(len(PAIRS)))
    assert float(value) == pytest.approx(float(expected), abs=1e-4)


def _batch_loss(model, loss):
    features = [model.tokenize([p.query for p in PAIRS]), model.tokenize([p.positive for p in PAIRS])]
    features.append(model.tokenize([p.negatives[0] for p in PAIRS]))
    model.eval()
    with torch.no_grad():
        return float(sum(loss(features, None).values()))


def test_full_fine_tuning_moves_the_backbone_and_lowers_the_loss(tiny_model_dir, tmp_path):
    model = SentenceTransformer(str(tiny_model_dir), device="cpu")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    loss = SmartHybridLoss(model, SmartObjective(temperature=0.05, hybrid_weight=LinearSchedule(0.5, 1.0)))
    loss.set_progress(1.0)
    start = _batch_loss(model, loss)
    trainer = fit_with_sentence_transformers(model, PAIRS, loss, args=_args(tmp_path, num_train_epochs=4, learning_rate=5e-4))
    assert loss.progress == pytest.approx(1.0)
    assert any("late" in h and "hybrid" in h for h in trainer.state.log_history)
    assert _batch_loss(model, loss) < start
    changed = [k for k, v in model.state_dict().items() if not torch.equal(v, before[k])]
    assert any("encoder" in k for k in changed)


def test_adapter_only_training_keeps_backbone_frozen(tiny_model_dir, tmp_path):
    model = SentenceTransformer(str(tiny_model_dir), device="cpu")
    adapter = attach_adapter(model, 8, seed=0)
    trainable = freeze_backbone(model)
    assert trainable and all(".norm." in n or ".linear." in n for n in trainable)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    fingerprint = adapter.fingerprint()
    fit_with_sentence_transformers(model, PAIRS, args=_args(tmp_path, num_train_epochs=1))
    for name, value in model.state_dict().items():
        if not name.startswith("3."):
            assert torch.equal(value, before[name]), f"frozen weight {name} changed"
    assert adapter.fingerprint() != fingerprint


def test_uneven_negatives_are_refused(tiny_model_dir, tmp_path):
    model = SentenceTransformer(str(tiny_model_dir), device="cpu")
    pairs = [PAIRS[0], TrainingPair("x y", "x y z")]
    with pytest.raises(ValueError, match="same number of negatives"):
        fit_with_sentence_transformers(model, pairs, args=_args(tmp_path))


def test_lora_fine_tuning_trains_only_the_lora_weights(tiny_model_dir, tmp_path):
    """With peft installed, SmartHybridLoss trains LoRA weights; the base weights and pooling stay put."""
    peft = pytest.importorskip("peft")
    model = SentenceTransformer(str(tiny_model_dir), device="cpu")
    model.add_adapter(peft.LoraConfig(r=4, lora_alpha=8, target_modules=["query", "value"]))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    assert any("lora_" in k for k in before)
    loss = SmartHybridLoss(model, SmartObjective(temperature=0.05, hybrid_weight=LinearSchedule.constant(1.0)))
    start = _batch_loss(model, loss)
    fit_with_sentence_transformers(model, PAIRS, loss, args=_args(tmp_path, num_train_epochs=6, learning_rate=1e-2))
    assert _batch_loss(model, loss) < start
    changed = [k for k, v in model.state_dict().items() if not torch.equal(v, before[k])]
    assert changed and all("lora_" in k for k in changed), f"non-LoRA weights changed: {[k for k in changed if 'lora_' not in k]}"
