"""Measure label-free ways of combining the pooled and late scores, side by side, on BEIR tasks.

Every task is encoded once (the same on-disk cache as ``smart-plugins eval``) and scored once
(pooled top-k, then MaxSim of the candidates; the candidate scores are cached too), so every
option below is a re-ranking of the same numbers. nDCG@10 on the test split (ir-measures) for:

- pooled, late, hybrid 1:1 (raw SMART formula);
- per-query normalisation of each signal over the candidate list, then 1:1: z-score, min-max;
- reciprocal-rank fusion (RRF, k=60) of the two rankings of the candidates;
- raw weights that equalise the two signals' spread on the corpus itself: λ_late/λ_pool =
  mean per-query std of pooled / of late over the candidate lists of pseudo-queries;
- λ (late share, for raw / z-score / min-max / RRF) fitted on pseudo-queries drawn from the
  corpus alone (a span of a document as the query, that document as the positive): never qrels;
- inverse-cloze pseudo-queries (generators ``span-ict``, ``prose-ict``): the same draw, but the
  positive is the document with the query's words taken out (encoded afresh), ranked among the
  query's pooled top-100 (the original document left out), so a fit cannot profit from the
  exact overlap of a span with its own document;
- ``prose``: a natural-language sentence or line of a document (a comment or message in code);
- for every generator, two rules on the mean reciprocal rank over the top-100 (the library's
  objective): the best share, and the share closest to 1:1 within one paired standard error of
  the best;
- per-query rules that need no fit: z-scores weighted by each signal's top-1 z-score, and raw
  scores weighted by each signal's spread over the query's candidates;
- the library default (``corpus_default_weights``: 256 span pseudo-queries, top-100, fitted raw λ);
- and, as a diagnostic chosen on nothing, the test curve along the λ grid of each combination.

    python benchmarks/label_free_default.py /work/shared/datasets/debian-siblings ... \
        --cache-dir .smart_cache/encoded --json docs/eval-results/label-free-default.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import Tensor

from smart_plugins.encoder import SmartEncoder
from smart_plugins.evaluation.cache import EncodedCache
from smart_plugins.evaluation.dataset import load_beir
from smart_plugins.evaluation.default_mode import corpus_default_weights
from smart_plugins.evaluation.encoding import encode_cached
from smart_plugins.evaluation.metrics import evaluate_run
from smart_plugins.evaluation.retrieval import CandidateScores, _to_run, score_candidates
from smart_plugins.evaluation.cache import cache_key
from smart_plugins.evaluation.encoding import encoder_identity
from smart_plugins.scoring import maxsim, pooled_scores
from smart_plugins.scoring.auto_weights import AUTO_CANDIDATES, choose_share, fit_late_share, positive_columns, reciprocal_ranks
from smart_plugins.scoring.pseudo_queries import draw_pseudo_queries

NDCG = {"ndcg@10": "nDCG@10"}
GRID = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 1.0)


def zscore(x: Tensor) -> Tensor:
    return (x - x.mean(1, keepdim=True)) / x.std(1, keepdim=True).clamp_min(1e-6)


def minmax(x: Tensor) -> Tensor:
    lo, hi = x.min(1, keepdim=True).values, x.max(1, keepdim=True).values
    return (x - lo) / (hi - lo).clamp_min(1e-6)


def rrf(x: Tensor, k0: float = 60.0) -> Tensor:
    ranks = torch.argsort(torch.argsort(x, dim=1, descending=True), dim=1).float()
    return 1.0 / (k0 + ranks + 1.0)


NORMS: dict[str, Callable[[Tensor], Tensor]] = {"raw": lambda x: x, "zscore": zscore, "minmax": minmax, "rrf": rrf}


def combine(s: CandidateScores, norm: str, share: float, cut: int | None = None) -> tuple[Tensor, Tensor]:
    pooled, late, cand = s.pooled, s.late, s.candidates
    if cut is not None:
        pooled, late, cand = pooled[:, :cut], late[:, :cut], cand[:, :cut]
    f = NORMS[norm]
    return cand, (1 - share) * f(pooled) + share * f(late)


def ndcg(s: CandidateScores, qids: list[str], doc_ids: list[str], qrels: dict, norm: str, share: float, cut: int | None = None) -> float:
    cand, fused = combine(s, norm, share, cut)
    values, order = torch.topk(fused, min(10, fused.shape[1]), dim=1)
    return evaluate_run(_to_run(qids, doc_ids, torch.gather(cand, 1, order), values), qrels, NDCG)["ndcg@10"]


def within_one_se(rr: np.ndarray) -> float:
    """The share closest to 1:1 whose MRR is within one paired standard error of the best share's."""
    means = rr.mean(1)
    best = int(np.argmax(means))
    ok = [GRID[i] for i in range(len(GRID)) if means[best] - means[i] <= (rr[best] - rr[i]).std(ddof=1) / np.sqrt(rr.shape[1]) + 1e-12]
    return min(ok, key=lambda sh: (abs(sh - 0.5), sh))


#: Priors (MRR per unit of late share away from 1:1) of the shrunk rule ``choose_share``: argmax MRR(s) - c |s - 0.5|.
PENALTIES = (0.0, 0.05, 0.1, 0.15, 0.2, 0.25)


def encode_new(encoder: SmartEncoder, texts: list[str], kind: str, cache: EncodedCache, extra: EncodedCache):
    """Encodings from the shared cache when there, else encoded into ``extra`` (the shared cache is never written)."""
    found = cache.load(cache_key(encoder_identity(encoder), kind, texts))
    return found if found is not None and len(found) == len(texts) else encode_cached(encoder, texts, kind, extra, show_progress=False)[0]


def inverse_cloze(ps: CandidateScores, p_enc, rest_enc, drawn_rows: list[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pooled top-100 of each pseudo-query without its own document, plus that document without the query (last column)."""
    cand = ps.candidates[:, :AUTO_CANDIDATES]
    pooled = ps.pooled[:, :AUTO_CANDIDATES].double().clone()
    late = ps.late[:, :AUTO_CANDIDATES].double().clone()
    own = cand == torch.tensor(drawn_rows)[:, None]
    pooled[own], late[own] = -1e9, -1e9  # the full document never competes with its masked copy
    rest_pooled = torch.diagonal(pooled_scores(p_enc.pooled, rest_enc.pooled))
    rest_late = torch.tensor([float(maxsim(p_enc.token_vectors(i), torch.tensor([0, int(p_enc.lengths[i])]),
                                           rest_enc.token_vectors(i), torch.tensor([0, int(rest_enc.lengths[i])]))[0, 0])
                              for i in range(len(drawn_rows))])
    pooled = torch.cat([pooled, rest_pooled.double()[:, None]], 1)
    late = torch.cat([late, rest_late.double()[:, None]], 1)
    return pooled.numpy(), late.numpy(), np.full(len(drawn_rows), AUTO_CANDIDATES)


def ndcg_fused(s: CandidateScores, test, fused: Tensor) -> float:
    values, order = torch.topk(fused, min(10, fused.shape[1]), dim=1)
    return round(evaluate_run(_to_run(test.query_ids, test.doc_ids, torch.gather(s.candidates, 1, order), values), test.qrels, NDCG)["ndcg@10"], 4)


def cached_scores(folder: Path, tag: str, queries, docs, k: int) -> CandidateScores:
    path = folder / f"{tag}.pt"
    if path.is_file():
        d = torch.load(path)
        return CandidateScores(d["candidates"], d["pooled"], d["late"], d["exhaustive"])
    s = score_candidates(queries, docs, k, show_progress=False)
    folder.mkdir(parents=True, exist_ok=True)
    torch.save({"candidates": s.candidates, "pooled": s.pooled, "late": s.late, "exhaustive": s.exhaustive}, path)
    return s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("datasets", nargs="+")
    parser.add_argument("--model", default="minilm")
    parser.add_argument("--k", type=int, default=200)
    parser.add_argument("--pseudo", type=int, default=1000, help="pseudo-queries drawn per corpus")
    parser.add_argument("--generators", default="span,first,sentence")
    parser.add_argument("--cache-dir", default=None)
    parser.add_argument("--extra-cache-dir", default=".smart_cache/encoded", help="where texts missing from --cache-dir are encoded (the shared cache is only read)")
    parser.add_argument("--scores-dir", default=".smart_cache/scores")
    parser.add_argument("--json")
    parser.add_argument("--log-dir", default=".smart_cache/label-free", help="one JSON per task, written as each finishes")
    args = parser.parse_args()
    encoder = SmartEncoder(args.model)
    cache = EncodedCache(args.cache_dir)
    extra = EncodedCache(args.extra_cache_dir)
    scores_dir = Path(args.scores_dir)
    results = {}
    for folder in args.datasets:
        started = time.perf_counter()
        test = load_beir(folder, "test")
        docs, _ = encode_cached(encoder, test.doc_texts, "document", cache, show_progress=False)
        queries, _ = encode_cached(encoder, test.query_texts, "query", cache, show_progress=False)
        corpus_tag = hashlib.sha256((test.corpus_sha256 + args.model + str(args.k)).encode()).hexdigest()[:12]
        ts = cached_scores(scores_dir, f"{test.name}-test-{corpus_tag}", queries, docs, args.k)
        row: dict = {"documents": len(test.doc_ids), "queries": len(test.query_ids)}

        def t(norm: str, share: float, cut: int | None = None) -> float:
            return round(ndcg(ts, test.query_ids, test.doc_ids, test.qrels, norm, share, cut), 4)

        row["pooled"], row["late"], row["hybrid 1:1"] = t("raw", 0.0), t("raw", 1.0), t("raw", 0.5)
        for norm in ("zscore", "minmax", "rrf"):
            row[f"{norm} 1:1"] = t(norm, 0.5)
            row[f"{norm} 1:1 (top-100)"] = t(norm, 0.5, 100)
        row["test curve (diagnostic)"] = {norm: {str(sh): t(norm, sh) for sh in GRID} for norm in NORMS}
        # test-query spread (label-free: the queries' own candidate lists, no qrels)
        row["test std pooled/late"] = round(float(ts.pooled.std(1).mean() / ts.late.std(1).mean()), 4)
        # per-query rules (no fit): each signal over the query's own candidate list
        zp, zl = zscore(ts.pooled.double()), zscore(ts.late.double())
        row["per-query z, weighted by top-1 z"] = ndcg_fused(ts, test, zp.max(1, keepdim=True).values * zp + zl.max(1, keepdim=True).values * zl)
        row["per-query raw, weighted by std"] = ndcg_fused(ts, test, ts.pooled.std(1, keepdim=True) * ts.pooled + ts.late.std(1, keepdim=True) * ts.late)
        for how in args.generators.split(","):
            base, ict = how.removesuffix("-ict"), how.endswith("-ict")
            pqs = draw_pseudo_queries(test.doc_texts, args.pseudo, how=base, seed=0)
            if not pqs:
                row[f"pseudo {how}"] = {"examples": [], "drawn": 0}
                continue
            p_texts = [q.text for q in pqs]
            p_ids = [f"p{i}" for i in range(len(pqs))]
            p_qrels = {qid: {test.doc_ids[q.doc]: 1} for qid, q in zip(p_ids, pqs)}
            p_enc = encode_new(encoder, p_texts, "query", cache, extra)
            ps = cached_scores(scores_dir, f"{test.name}-pseudo-{base}-{args.pseudo}-{corpus_tag}", p_enc, docs, args.k)
            entry: dict = {"examples": p_texts[:3], "drawn": len(pqs)}
            if ict:
                keep = [i for i, q in enumerate(pqs) if len(q.rest.split()) >= 3]  # a document that is all query has nothing left
                sel = torch.tensor(keep)
                ps_k = CandidateScores(ps.candidates[sel], ps.pooled[sel], ps.late[sel], ps.exhaustive)
                rest_enc = encode_new(encoder, [pqs[i].rest for i in keep], "document", cache, extra)
                pooled, late, positive = inverse_cloze(ps_k, p_enc.select(keep), rest_enc, [pqs[i].doc for i in keep])
                entry["drawn"] = len(keep)
            else:
                ratio = float(ps.pooled.std(1).mean() / ps.late.std(1).mean())
                entry["spread ratio std_pool/std_late"] = round(ratio, 4)
                # spread-equalised raw weights: pool 1, late = ratio -> late share ratio / (1 + ratio)
                entry["spread-equalised raw"] = {"late_share": round(ratio / (1 + ratio), 4), "test": t("raw", ratio / (1 + ratio))}
                for norm in NORMS:
                    curve = {sh: ndcg(ps, p_ids, test.doc_ids, p_qrels, norm, sh) for sh in GRID}
                    best = max(GRID, key=lambda sh: (round(curve[sh], 4), -abs(sh - 0.5)))
                    entry[f"fitted {norm}"] = {
                        "late_share": best,
                        "pseudo": round(curve[best], 4),
                        "test": t(norm, best),
                        "test top-100": t(norm, best, 100),
                        "pseudo curve": {str(sh): round(v, 4) for sh, v in curve.items()},
                    }
                cut = AUTO_CANDIDATES
                pooled, late = ps.pooled[:, :cut].numpy(), ps.late[:, :cut].numpy()
                positive = positive_columns(ps.candidates[:, :cut].tolist(), [q.doc for q in pqs])
            rr = reciprocal_ranks(pooled, late, positive, GRID)
            fitted = fit_late_share(pooled, late, positive, GRID, prior=0.0)
            loose = within_one_se(rr)
            entry["MRR top-100: best share"] = {"late_share": fitted.late_share, "test": t("raw", fitted.late_share),
                                                 "pseudo curve": {f"{sh:g}": round(v, 4) for sh, v in fitted.curve.items()}}
            entry["MRR top-100: within 1 SE, closest to 1:1"] = {"late_share": loose, "test": t("raw", loose)}
            for c in PENALTIES:
                share = choose_share(fitted.curve, c)
                entry[f"MRR top-100 - {c:g}|share - 0.5|"] = {"late_share": share, "test": t("raw", share)}
            row[f"pseudo {how}"] = entry
        # the library's default: what SmartIndex fits and `smart-plugins eval --modes default` reports
        weights, fit = corpus_default_weights(encoder, test.doc_texts, docs, extra)
        row["default (library fit)"] = {"late_share": fit.get("late_share"), "weights": weights.as_dict(),
                                        "test": t("raw", weights.late / (weights.pool + weights.late)),
                                        "pseudo curve": fit.get("curve")}
        if fit.get("curve"):
            lib_curve = {float(k): v for k, v in fit["curve"].items()}
            for c in PENALTIES:
                share = choose_share(lib_curve, c)
                row[f"default curve - {c:g}|share - 0.5|"] = {"late_share": share, "test": t("raw", share)}
        row["seconds"] = round(time.perf_counter() - started, 1)
        results[test.name] = row
        Path(args.log_dir).mkdir(parents=True, exist_ok=True)
        (Path(args.log_dir) / f"{test.name}.json").write_text(json.dumps(row, indent=1))
        print(summary(test.name, row), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


def summary(name: str, row: dict) -> str:
    best = max(row["late"], row["hybrid 1:1"])
    lines = [f"== {name}: target >= {best - 0.005:.4f} (max(late, hybrid 1:1) - 0.5 pt) and >= {row['pooled'] + 0.02:.4f} (pooled + 2 pt)"]
    flat = {k: v for k, v in row.items() if isinstance(v, float) and k not in ("seconds", "test std pooled/late")}
    for key, entry in row.items():
        if key.startswith("pseudo ") and entry.get("drawn"):
            if "spread-equalised raw" in entry:
                flat[f"{key} spread-equalised raw (share {entry['spread-equalised raw']['late_share']})"] = entry["spread-equalised raw"]["test"]
                for norm in NORMS:
                    e = entry[f"fitted {norm}"]
                    flat[f"{key} fitted {norm} (share {e['late_share']})"] = e["test"]
            for rule in ("MRR top-100: best share", "MRR top-100: within 1 SE, closest to 1:1", *(f"MRR top-100 - {c:g}|share - 0.5|" for c in PENALTIES)):
                flat[f"{key} {rule} (share {entry[rule]['late_share']})"] = entry[rule]["test"]
    for key, entry in row.items():
        if key.startswith("default curve - "):
            flat[f"{key} (share {entry['late_share']})"] = entry["test"]
    d = row["default (library fit)"]
    flat[f"DEFAULT library fit (share {d['late_share']})"] = d["test"]
    for key, value in flat.items():
        ok = "ok" if value >= best - 0.005 and value >= row["pooled"] + 0.02 else "--"
        lines.append(f"  {ok} {value:.4f}  {key}")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
