"""Cached frozen-backbone training: the loss falls, the backbone does not move, the cache is reused."""

from __future__ import annotations

import pytest
import torch
from sentence_transformers import SentenceTransformer

from smart_plugins.encoder import SmartEncoder
from smart_plugins.training import (
    AdapterTrainingConfig,
    LinearSchedule,
    TokenStateCache,
    TrainingPair,
    find_adapter,
    save_model,
    train_adapter,
    state_encoder,
    unique_texts,
)

WORDS = "red green blue star moon apple banana python perl java rust server client index search vector".split()


def make_pairs(n: int = 24, seed: int = 0) -> list[TrainingPair]:
    """Query = two words; document = those words buried among others (a lexical-match task)."""
    rng = torch.Generator().manual_seed(seed)
    pairs = []
    for i in range(n):
        a, b = (WORDS[int(j)] for j in torch.randperm(len(WORDS), generator=rng)[:2])
        filler = [WORDS[int(j)] for j in torch.randint(len(WORDS), (4,), generator=rng)]
        pairs.append(TrainingPair(f"{a} {b} {i}", " ".join([a, *filler[:2], b, *filler[2:], str(i)])))
    return pairs


@pytest.fixture()
def fresh_encoder(tiny_model_dir):
    return SmartEncoder(str(tiny_model_dir), device="cpu")


def test_training_lowers_the_loss_and_keeps_the_backbone_frozen(fresh_encoder):
    before = {k: v.clone() for k, v in fresh_encoder.model.state_dict().items()}
    config = AdapterTrainingConfig(dim=16, epochs=6, batch_size=8, learning_rate=1e-2, hard_negatives=1)
    model, report = train_adapter(fresh_encoder, make_pairs(), config)
    assert report.epoch_losses[-1] < report.epoch_losses[0]
    assert report.steps == 6 * 3
    adapter = find_adapter(model)
    assert adapter is not None and adapter.output_dim == 16
    after = model.state_dict()
    for name, value in before.items():
        assert torch.equal(after[name], value), f"backbone weight {name} changed"
    assert report.adapter["sha256"] == adapter.fingerprint()


@pytest.mark.parametrize("options", [{}, {"layers": 2, "query_weights": True}], ids=["reference", "layer-mix+weights"])
def test_one_step_lowers_the_loss_on_the_same_batch(fresh_encoder, options):
    pairs = make_pairs(8)
    config = AdapterTrainingConfig(dim=8, epochs=1, batch_size=8, learning_rate=5e-3, hard_negatives=0, **options)
    queries, docs = unique_texts(pairs)
    cache = TokenStateCache.build(state_encoder(fresh_encoder, config.layers), queries, docs)
    model, first = train_adapter(fresh_encoder, pairs, config, cache=cache)
    assert first.steps == 1 and find_adapter(fresh_encoder.model) is None
    # re-evaluate the batch loss with the trained adapter: lower than the loss before the step
    from smart_plugins.training.trainer import _project

    adapter = find_adapter(model)
    objective = config.objective()
    with torch.no_grad():
        q = _project(adapter, cache.query_rows([p.query for p in pairs]), "cpu", "query")
        d = _project(adapter, cache.doc_rows([p.positive for p in pairs]), "cpu", "document")
        after = float(objective.losses(q, d)["loss"])
    assert after < first.epoch_losses[0]


def test_trained_model_round_trips_and_keeps_pooled(fresh_encoder, tiny_encoder, tmp_path):
    config = AdapterTrainingConfig(
        dim=12, epochs=2, batch_size=8, hybrid_weight=LinearSchedule(0.0, 1.0), late_weight=LinearSchedule(1.0, 0.5)
    )
    model, report = train_adapter(fresh_encoder, make_pairs(), config)
    out = save_model(model, tmp_path / "trained")
    encoder = SmartEncoder(str(out), device="cpu")
    assert encoder.token_dim == 12
    assert encoder.describe()["adapter"] == report.adapter
    texts = ["red star server", "blue moon"]
    assert torch.allclose(encoder.encode(texts).pooled, tiny_encoder.encode(texts).pooled, atol=1e-6)
    st = SentenceTransformer(str(tiny_encoder.model_name), device="cpu")
    assert torch.allclose(
        torch.as_tensor(encoder.model.encode(texts)), torch.as_tensor(st.encode(texts)), atol=1e-6
    )


def test_cache_file_is_reused_and_refused_for_other_texts(fresh_encoder, tmp_path, monkeypatch):
    path = tmp_path / "states.safetensors"
    built = TokenStateCache.build(fresh_encoder, ["q one", "q two"], ["doc one", "doc two"], path=path)
    assert path.is_file()
    calls = []
    original = fresh_encoder.encode
    monkeypatch.setattr(fresh_encoder, "encode", lambda *a, **k: calls.append(1) or original(*a, **k))
    again = TokenStateCache.build(fresh_encoder, ["q one", "q two"], ["doc one", "doc two"], path=path)
    assert calls == [] and again.fingerprint == built.fingerprint
    assert torch.equal(again.docs.tokens, built.docs.tokens)
    other = TokenStateCache.build(fresh_encoder, ["q one", "q three"], ["doc one", "doc two"], path=path)
    assert len(calls) == 2 and other.fingerprint != built.fingerprint


def test_bad_input_is_refused(fresh_encoder):
    with pytest.raises(ValueError, match="at least 2 pairs"):
        train_adapter(fresh_encoder, make_pairs(1))
    with pytest.raises(ValueError, match="batch_size"):
        AdapterTrainingConfig(batch_size=1)
    with pytest.raises(ValueError, match="query"):
        TrainingPair("", "doc")
    model, _ = train_adapter(fresh_encoder, make_pairs(4), AdapterTrainingConfig(dim=4, epochs=1))
    with pytest.raises(ValueError, match="already has a TokenAdapter"):
        train_adapter(SmartEncoder(model, device="cpu"), make_pairs(4))


@pytest.mark.parametrize("options", [{"mine_by": "smart", "mining_depth": 5}, {"sample_negatives": True, "mining_depth": 6}])
def test_mined_negatives_are_other_documents(fresh_encoder, options):
    from smart_plugins.training.trainer import _negative_rows, _pick_negatives, _rows

    pairs = make_pairs(12)
    queries, docs = unique_texts(pairs)
    cache = TokenStateCache.build(fresh_encoder, queries, docs)
    config = AdapterTrainingConfig(dim=4, hard_negatives=2, **options)
    q_rows = _rows(cache.query_index, [p.query for p in pairs], "query")
    pos_rows = _rows(cache.doc_index, [p.positive for p in pairs], "document")
    ranked = _negative_rows(cache, pairs, pos_rows, q_rows, config)
    width = options["mining_depth"] if options.get("sample_negatives") else config.hard_negatives
    assert ranked.shape == (12, width)
    assert not bool((ranked == pos_rows[:, None]).any()), "a positive was mined as its own negative"
    assert all(len(set(row)) == ranked.shape[1] for row in ranked.tolist())
    picked = _pick_negatives(ranked, config, torch.Generator().manual_seed(0))
    assert picked.shape == (12, 2)
    assert all(set(p) <= set(r) for p, r in zip(picked.tolist(), ranked.tolist()))
    if options.get("mine_by") == "smart":  # the frozen SMART score's top mistakes among the pooled top 5
        from smart_plugins.scoring import ScoreWeights, pooled_scores, smart_scores

        q = cache.queries.select([int(q_rows[0])])
        pooled = pooled_scores(q.pooled.float(), cache.docs.pooled.float())[0]
        pooled[pos_rows[0]] = float("-inf")
        pool_top = torch.topk(pooled, 5).indices
        hybrid = smart_scores(q.to(dtype=torch.float32), cache.docs.select(pool_top).to(dtype=torch.float32), ScoreWeights(1, 1)).hybrid[0]
        assert ranked[0].tolist() == pool_top[torch.argsort(hybrid, descending=True)[:2]].tolist()
    model, report = train_adapter(fresh_encoder, pairs, AdapterTrainingConfig(dim=4, epochs=1, batch_size=4, **options), cache=cache)
    assert report.steps == 3 and find_adapter(model) is not None


def test_learning_rate_warms_up_then_decays_to_zero():
    from smart_plugins.training.trainer import _lr_factor

    factor = _lr_factor(AdapterTrainingConfig(warmup=0.2, decay=True), total_steps=10)
    values = [factor(step) for step in range(10)]
    assert values[0] < values[1] < values[2] == 1.0
    assert all(a > b for a, b in zip(values[2:], values[3:])) and values[-1] > 0
    constant = _lr_factor(AdapterTrainingConfig(warmup=0.0, decay=False), total_steps=10)
    assert [constant(step) for step in range(10)] == [1.0] * 10


@pytest.mark.parametrize(
    ("options", "message"),
    [({"mine_by": "bm25"}, "mine_by"), ({"hard_negatives": 8, "mining_depth": 8}, "mining_depth"), ({"warmup": 1.0}, "warmup")],
)
def test_bad_mining_and_schedule_settings_are_refused(options, message):
    with pytest.raises(ValueError, match=message):
        AdapterTrainingConfig(**options)


def test_layer_mixing_adapter_trains_saves_and_loads(fresh_encoder, tiny_encoder, tmp_path):
    config = AdapterTrainingConfig(dim=6, epochs=1, batch_size=8, layers=2, query_weights=True, hard_negatives=1)
    model, report = train_adapter(fresh_encoder, make_pairs(), config)
    assert report.adapter["layers"] == 2 and report.adapter["query_weights"] is True
    encoder = SmartEncoder(str(save_model(model, tmp_path / "mixed")), device="cpu")
    assert encoder.describe()["adapter"] == report.adapter
    texts = ["red star server", "blue moon"]
    assert torch.allclose(encoder.encode_queries(texts).pooled, tiny_encoder.encode(texts).pooled, atol=1e-6)
    docs = encoder.encode_documents(texts)
    assert torch.allclose(docs.tokens.norm(dim=-1), torch.ones(len(docs.tokens)), atol=1e-5)


def test_a_cache_of_the_wrong_width_is_refused(fresh_encoder):
    pairs = make_pairs(8)
    cache = TokenStateCache.build(fresh_encoder, *unique_texts(pairs))  # last layer only
    with pytest.raises(ValueError, match="state_encoder"):
        train_adapter(fresh_encoder, pairs, AdapterTrainingConfig(dim=4, epochs=1, batch_size=8, layers=2), cache=cache)


def test_epoch_bar_follows_the_process_wide_setting(fresh_encoder):
    """show_progress_bar=None defers to smart_plugins.progress (the CLI's --progress sets it to always)."""
    import io
    from contextlib import redirect_stderr

    from smart_plugins.progress import progress_bars

    config = AdapterTrainingConfig(dim=8, epochs=1, batch_size=8, hard_negatives=0)
    with redirect_stderr(err := io.StringIO()), progress_bars("always"):
        train_adapter(fresh_encoder, make_pairs(8), config)
    assert "epoch 1/1" in err.getvalue()
