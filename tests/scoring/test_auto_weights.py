import numpy as np
import pytest

from smart_plugins.evaluation.metrics import evaluate_run
from smart_plugins.scoring import ScoreWeights
from smart_plugins.scoring.auto_weights import (
    LATE_SHARES,
    PRIOR_PER_SHARE,
    choose_share,
    fit_late_share,
    positive_columns,
    reciprocal_ranks,
)


def _synthetic(late_decides: bool, q: int = 60, k: int = 30, seed: int = 0):
    """Candidates where only one signal puts the positive (column 0) on top."""
    rng = np.random.default_rng(seed)
    pooled, late = rng.normal(0.5, 0.05, (q, k)), rng.normal(0.5, 0.05, (q, k))
    (late if late_decides else pooled)[:, 0] += 0.2
    return pooled, late, np.zeros(q, dtype=np.int64)


def test_late_only_evidence_gives_a_late_share_above_half():
    fitted = fit_late_share(*_synthetic(late_decides=True))
    assert fitted.late_share > 0.5 and fitted.weights.late == 1.0 and fitted.weights.pool < 1.0


def test_pooled_only_evidence_gives_a_late_share_below_half():
    fitted = fit_late_share(*_synthetic(late_decides=False))
    assert fitted.late_share < 0.5 and fitted.weights.pool == 1.0


def test_objective_is_the_mean_reciprocal_rank_that_ir_measures_computes():
    pooled, late, positive = _synthetic(late_decides=True, seed=4)
    positive[:5] = -1  # the first stage missed these: reciprocal rank 0
    fitted = fit_late_share(pooled, late, positive)
    qrels = {f"q{i}": {"pos" if p >= 0 else "absent": 1} for i, p in enumerate(positive)}
    for share in (0.0, 0.5, 0.8, 1.0):
        w = ScoreWeights.from_late_share(share)
        fused = w.pool * pooled + w.late * late
        run = {f"q{i}": {("pos" if j == p else f"d{j}"): float(fused[i, j]) for j in range(pooled.shape[1])}
               for i, p in enumerate(positive)}
        expected = evaluate_run(run, qrels, {"rr": "RR"})["rr"]
        assert fitted.curve[share] == pytest.approx(expected, abs=1e-9)


def test_ties_go_to_the_smart_formula():
    pooled = late = np.array([[0.1, 0.9], [0.2, 0.8]])
    assert fit_late_share(pooled, late, np.array([1, 1])).late_share == 0.5


def test_positive_columns():
    assert positive_columns([[5, 7, 9], [1, 2, 3]], [9, 4]).tolist() == [2, -1]
    with pytest.raises(ValueError, match="candidate lists"):
        positive_columns([[1]], [1, 2])


@pytest.mark.parametrize(
    "args, message",
    [
        ((np.zeros((2, 3)), np.zeros((2, 4)), np.zeros(2, dtype=int)), "one shape"),
        ((np.zeros((2, 3)), np.zeros((2, 3)), np.zeros(3, dtype=int)), "one column per query"),
        ((np.zeros((0, 3)), np.zeros((0, 3)), np.zeros(0, dtype=int)), "no pseudo-queries"),
    ],
)
def test_bad_input_is_named(args, message):
    with pytest.raises(ValueError, match=message):
        fit_late_share(*args)


def test_grid_is_validated():
    with pytest.raises(ValueError, match="late shares"):
        fit_late_share(np.zeros((1, 2)), np.zeros((1, 2)), np.zeros(1, dtype=int), grid=(0.5, 1.5))
    assert LATE_SHARES[0] == 0.0 and LATE_SHARES[-1] == 1.0


def test_from_late_share():
    assert ScoreWeights.from_late_share(1.0) == ScoreWeights(0, 1)
    assert ScoreWeights.from_late_share(0.75).as_dict() == pytest.approx({"pool": 1 / 3, "late": 1.0})
    with pytest.raises(ValueError, match="late share"):
        ScoreWeights.from_late_share(-0.1)


def test_reciprocal_ranks_are_per_query_and_average_to_the_fitted_curve():
    pooled, late, positive = _synthetic(late_decides=True, q=20)
    positive[3] = -1
    rr = reciprocal_ranks(pooled, late, positive)
    assert rr.shape == (len(LATE_SHARES), 20) and (rr[:, 3] == 0).all()
    assert rr[LATE_SHARES.index(1.0)].mean() > rr[LATE_SHARES.index(0.0)].mean()
    curve = fit_late_share(pooled, late, positive).curve
    assert [round(curve[s], 12) for s in LATE_SHARES] == [round(v, 12) for v in rr.mean(1)]


PRIOR = 0.2


def _mixed(late_wins: int, q: int = 100, k: int = 30, seed: int = 0):
    """``late_wins`` queries whose positive only the late score finds, the rest found by both (column 0)."""
    rng = np.random.default_rng(seed)
    pooled, late = rng.normal(0.5, 0.05, (q, k)), rng.normal(0.5, 0.05, (q, k))
    late[:, 0] += 0.3
    pooled[late_wins:, 0] += 0.3
    pooled[:late_wins, 0] -= 0.3
    return pooled, late, np.zeros(q, dtype=np.int64)


def test_weak_evidence_for_late_keeps_one_to_one():
    pooled, late, positive = _mixed(late_wins=3)  # late-only beats 1:1 on a few queries only
    assert fit_late_share(pooled, late, positive, prior=0.0).late_share > 0.5
    fitted = fit_late_share(pooled, late, positive, prior=PRIOR)
    gain = fitted.curve[1.0] - fitted.curve[0.5]
    assert 0 < gain < PRIOR / 2 and fitted.late_share == 0.5 and fitted.prior == PRIOR


def test_strong_evidence_for_late_still_moves_away_from_one_to_one():
    pooled, late, positive = _mixed(late_wins=60)
    fitted = fit_late_share(pooled, late, positive, prior=PRIOR)
    assert fitted.curve[1.0] - fitted.curve[0.5] > PRIOR / 2 and fitted.late_share > 0.5


def test_choose_share_rules():
    curve = {0.0: 0.5, 0.5: 0.6, 1.0: 0.69}
    assert choose_share(curve, 0.0) == 1.0 and choose_share(curve, 0.2) == 0.5  # 0.09 < 0.2 * 0.5
    assert choose_share({0.0: 0.9, 0.5: 0.7, 1.0: 0.7}, PRIOR) == 0.0
    assert PRIOR_PER_SHARE == 0.0  # the default keeps the plain best MRR (the prior failed debian-siblings)  # pooled can win too
    with pytest.raises(ValueError, match="prior must be >= 0"):
        choose_share(curve, -0.1)


def test_the_prose_discount_moves_the_fitted_share_toward_one_to_one():
    from smart_plugins.scoring.auto_weights import discount_by_prose

    evidence = _synthetic(late_decides=True)
    full, code_like, none = (fit_late_share(*evidence, prose=p) for p in (1.0, 0.2, 0.0))
    assert full.late_share == 0.95 and none.late_share == 0.5  # 0.95 and 1.0 tie here: the share nearer 1:1
    assert code_like.late_share == discount_by_prose(0.95, 0.2) == 0.59
    record = code_like.as_dict()
    assert record["fitted_share"] == 0.95 and record["prose_share"] == 0.2 and record["late_share"] == 0.59
    assert discount_by_prose(0.1, 0.5) == 0.3  # a pooled-leaning fit moves up toward 1:1 the same way
    with pytest.raises(ValueError, match="prose must be a share in"):
        discount_by_prose(0.8, 1.5)
