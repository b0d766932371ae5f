"""Quickstart: SMART retrieval with the packaged all-MiniLM-L6-v2, offline, on CPU or GPU.

One forward pass per text gives both the model's usual pooled embedding and its token states;
each query is then scored three ways against a small real corpus (Debian package descriptions
whose siblings differ in one sentence):

- pooled: cosine of the pooled embeddings (what the embedder does on its own),
- late: mean over query tokens of the best-matching document token (MaxSim),
- hybrid: pooled + late (the SMART default, weights 1:1).

Run:  python examples/quickstart.py [--k 3] [--weights 1:1]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from smart_plugins import ScoreWeights, SmartEncoder, smart_scores

DATA = Path(__file__).parent / "data"


def load_jsonl(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="minilm", help="model name, path or packaged alias (default: minilm)")
    parser.add_argument("--k", type=int, default=3, help="results shown per query")
    parser.add_argument("--weights", default="1:1", help="hybrid weights POOL:LATE (default 1:1)")
    args = parser.parse_args()

    docs = load_jsonl(DATA / "debian_packages.jsonl")
    queries = load_jsonl(DATA / "debian_queries.jsonl")
    encoder = SmartEncoder(args.model)
    print(f"model {encoder.model_name} on {encoder.device}: pooled {encoder.pooled_dim}-d, tokens {encoder.token_dim}-d")

    encoded_docs = encoder.encode_documents([d["text"] for d in docs])
    encoded_queries = encoder.encode_queries([q["query"] for q in queries])
    print(f"{len(docs)} documents -> {len(encoded_docs.tokens)} token vectors ({encoded_docs.lengths.float().mean():.0f} per doc)\n")
    scores = smart_scores(encoded_queries, encoded_docs, ScoreWeights.parse(args.weights))

    hits = {"pooled": 0, "late": 0, "hybrid": 0}
    for qi, query in enumerate(queries):
        print(f"query: {query['query']!r}  (relevant: {query['relevant']})")
        print(f"  {'rank':<5}{'document':<34}{'pooled':>8}{'late':>8}{'hybrid':>8}")
        order = torch.argsort(scores.hybrid[qi], descending=True)[: args.k]
        for rank, di in enumerate(order.tolist(), start=1):
            mark = "*" if docs[di]["id"] == query["relevant"] else " "
            late = scores.late[qi, di] if scores.late is not None else float("nan")
            print(
                f"  {rank:<5}{mark}{docs[di]['id']:<33}"
                f"{scores.pooled[qi, di]:>8.3f}{late:>8.3f}{scores.hybrid[qi, di]:>8.3f}"
            )
        for mode in hits:
            matrix = getattr(scores, mode)
            if matrix is not None:
                hits[mode] += docs[int(matrix[qi].argmax())]["id"] == query["relevant"]
        print()
    summary = ", ".join(f"{mode} {count}/{len(queries)}" for mode, count in hits.items())
    print(f"top-1 correct: {summary}")


if __name__ == "__main__":
    main()
