"""First-stage recall on real data: how much of the exhaustive SMART ranking the pooled top-C keeps.

For a sample of debian-siblings test queries, exhaustive SMART scores (pooled + MaxSim over every
document, fp32 vectors from the shared encoding cache, ``smart_plugins.scoring.smart_scores``) are
compared with the index's first stage (exact pooled top-C, and faiss HNSW top-C):

* recall@C: share of the exhaustive top-10 / top-100 found among the C candidates,
* nDCG@10 (ir-measures) of exhaustive SMART vs two-stage SMART on the same queries.

    python benchmarks/index_recall.py --queries 300 --candidates 100
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

import numpy as np
import torch

from smart_plugins.encoder import SmartEncoder
from smart_plugins.evaluation.cache import EncodedCache
from smart_plugins.evaluation.dataset import load_beir
from smart_plugins.evaluation.encoding import encode_cached
from smart_plugins.evaluation.metrics import evaluate_run
from smart_plugins.index import SmartIndex
from smart_plugins.scoring import ScoreWeights, smart_scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="/work/shared/datasets/debian-siblings")
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--candidates", type=int, default=100)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data = load_beir(args.dataset, split="test")
    encoder = SmartEncoder("minilm", device="cpu")
    cache = EncodedCache()
    docs, _ = encode_cached(encoder, data.doc_texts, "document", cache)
    queries, _ = encode_cached(encoder, data.query_texts, "query", cache)
    pick = list(range(min(args.queries, len(queries))))
    queries = queries.select(pick)
    qids = [data.query_ids[i] for i in pick]
    qrels = {q: data.qrels[q] for q in qids}
    exhaustive = smart_scores(queries, docs).hybrid.numpy()  # (Q, N) fp32 reference
    folder = Path(tempfile.mkdtemp(prefix="bench-recall-")) / "index"
    index = SmartIndex.create(folder, encoder, compression="fp32", weights=ScoreWeights(1, 1))  # the exhaustive reference's formula
    index.add_encoded(docs, data.doc_texts, ids=data.doc_ids)
    q_pooled = torch.nn.functional.normalize(queries.pooled, dim=-1).numpy()
    allowed = index._allowed(None, None)
    print(f"{data.name}: {len(docs)} docs, {len(pick)} queries, candidates {args.candidates}")
    ex_run = {q: {data.doc_ids[j]: float(exhaustive[i, j]) for j in np.argsort(-exhaustive[i])[:100]} for i, q in enumerate(qids)}
    ex_ndcg = evaluate_run(ex_run, qrels, {"n": "nDCG@10"})["n"]
    for kind in ("exact", "hnsw"):
        index._manifest["first_stage"] = {"kind": kind}
        rows, _ = index._first_stage(q_pooled, args.candidates, allowed)
        r10, r100, run = [], [], {}
        for i, q in enumerate(qids):
            order = np.argsort(-exhaustive[i])
            cands = set(rows[i].tolist())
            r10.append(len(cands & set(order[:10].tolist())) / 10)
            r100.append(len(cands & set(order[:100].tolist())) / 100)
            run[q] = {data.doc_ids[j]: float(exhaustive[i, j]) for j in rows[i].tolist()}
        ndcg = evaluate_run(run, qrels, {"n": "nDCG@10"})["n"]
        print(f"  {kind:<5} first stage: exhaustive top-10 in candidates {np.mean(r10):.3f}, "
              f"top-100 in candidates {np.mean(r100):.3f}; nDCG@10 two-stage {ndcg:.4f} vs exhaustive {ex_ndcg:.4f}")
    index.close()
    shutil.rmtree(folder.parent)


if __name__ == "__main__":
    main()
