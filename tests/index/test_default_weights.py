"""The label-free default weights an index fits on pseudo-queries drawn from its own documents."""

from __future__ import annotations

import random

import pytest

from smart_plugins.index import SmartIndex
from smart_plugins.index.default_weights import FALLBACK, MIN_DOCUMENTS, needs_fit
from smart_plugins.scoring import ScoreWeights
from smart_plugins.scoring.auto_weights import PRIOR_PER_SHARE, choose_share

WORDS = (
    "package library files development debug documentation data python perl java rust shared runtime tool "
    "server client module red green blue star moon code marker labels search index retrieval vector model text"
).split()


def _docs(n: int, seed: int = 0, words: int = 16) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(words)) for _ in range(n)]


@pytest.fixture()
def fitted_index(tmp_path, tiny_encoder):
    index = SmartIndex.create(tmp_path / "idx", tiny_encoder, compression="fp32")
    index.add(_docs(MIN_DOCUMENTS + 6), ids=[f"d{i}" for i in range(MIN_DOCUMENTS + 6)])
    yield index
    index.close()


def test_small_index_keeps_the_fallback_and_records_auto(tmp_path, tiny_encoder):
    with SmartIndex.create(tmp_path / "i", tiny_encoder, compression="fp32") as index:
        index.add(_docs(10))
        assert index.weights == FALLBACK
        assert index.info()["weights_source"] == {"kind": "auto", "documents": 0}
        assert index.version == 1


def test_adding_enough_documents_fits_and_records_the_weights(fitted_index):
    source = fitted_index.info()["weights_source"]
    assert source["kind"] == "auto" and source["documents"] == MIN_DOCUMENTS + 6
    assert fitted_index.weights == ScoreWeights.from_late_share(source["late_share"])
    assert source["queries"] == MIN_DOCUMENTS + 6  # every document is long enough: one query each
    assert set(source["curve"]) == {f"{s:g}" for s in (0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 1)}
    curve = {float(k): v for k, v in source["curve"].items()}
    assert source["prior"] == PRIOR_PER_SHARE
    assert source["late_share"] == choose_share(curve, PRIOR_PER_SHARE)
    assert source["best_share_without_prior"] == choose_share(curve, 0.0)
    assert source["prose_share"] == 1.0 and source["fitted_share"] == source["late_share"]  # prose: the fit is kept
    assert fitted_index.version == 2  # the documents' commit, then the fit's


def test_search_without_weights_uses_the_fitted_weights(fitted_index):
    weights = fitted_index.weights
    assert weights != FALLBACK  # (the tiny random model's fit) so this test tells the two apart
    hits = fitted_index.search("python library server code", k=5)
    for hit in hits:
        assert hit.score == pytest.approx(weights.pool * hit.pooled + weights.late * (hit.late or 0.0), abs=1e-5)


def test_reopened_index_scores_the_same(fitted_index, tiny_encoder):
    query = "rust runtime module search"
    before = [(h.id, h.score) for h in fitted_index.search(query, k=8)]
    with SmartIndex.open(fitted_index.path, tiny_encoder, read_only=True) as again:
        assert again.weights == fitted_index.weights
        assert [(h.id, h.score) for h in again.search(query, k=8)] == before


def test_refit_only_once_the_index_has_doubled(fitted_index):
    n = len(fitted_index)
    version = fitted_index.version
    fitted_index.add(_docs(5, seed=1), ids=[f"x{i}" for i in range(5)])
    assert fitted_index.version == version + 1 and fitted_index.info()["weights_source"]["documents"] == n
    fitted_index.upsert(_docs(n, seed=2), ids=[f"y{i}" for i in range(n)])
    assert fitted_index.info()["weights_source"]["documents"] == 2 * n + 5
    assert fitted_index.version == version + 3  # the upsert, then the refit


def test_explicit_weights_are_never_replaced(tmp_path, tiny_encoder):
    chosen = ScoreWeights(0.3, 1.0)
    with SmartIndex.create(tmp_path / "i", tiny_encoder, compression="fp32", weights=chosen) as index:
        index.add(_docs(2 * MIN_DOCUMENTS))
        assert index.weights == chosen and index.info()["weights_source"] == {"kind": "explicit"}
    with SmartIndex.create(tmp_path / "j", tiny_encoder, compression="fp32") as index:
        index.set_weights(chosen)
        index.add(_docs(2 * MIN_DOCUMENTS))
        assert index.weights == chosen


def test_documents_too_short_to_draw_from_keep_the_weights_and_wait_for_doubling(tmp_path, tiny_encoder):
    with SmartIndex.create(tmp_path / "i", tiny_encoder, compression="fp32") as index:
        index.add(_docs(MIN_DOCUMENTS, words=5))
        assert index.weights == FALLBACK
        assert index.info()["weights_source"] == {"kind": "auto", "documents": MIN_DOCUMENTS, "fitted": False}
        assert index.version == 2
        version = index.version
        index.add(_docs(3, words=5))
        assert index.version == version + 1  # no second attempt before the index doubles


def test_needs_fit_rules():
    auto = {"weights_source": {"kind": "auto", "documents": 0}}
    assert not needs_fit(auto, MIN_DOCUMENTS - 1) and needs_fit(auto, MIN_DOCUMENTS)
    assert not needs_fit({}, 10**6)  # an index written before the fit existed keeps its weights


def test_an_index_of_source_code_moves_its_fit_toward_one_to_one(tmp_path, tiny_encoder):
    from smart_plugins.scoring.auto_weights import discount_by_prose

    rng = random.Random(1)
    code = [
        "\n".join(f"{rng.choice(WORDS)}_{i} = {rng.choice(WORDS)}({rng.choice(WORDS)}, {i})" for i in range(6))
        + "\n# " + " ".join(rng.choice(WORDS) for _ in range(6))
        for _ in range(MIN_DOCUMENTS + 6)
    ]
    with SmartIndex.create(tmp_path / "code", tiny_encoder, compression="fp32") as index:
        index.add(code)
        source = index.info()["weights_source"]
    assert 0.0 < source["prose_share"] < 0.5  # one comment line of seven
    assert source["late_share"] == discount_by_prose(source["fitted_share"], source["prose_share"])
    assert abs(source["late_share"] - 0.5) < abs(source["fitted_share"] - 0.5) or source["fitted_share"] == 0.5
