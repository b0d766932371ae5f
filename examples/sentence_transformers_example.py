"""SMART on top of sentence-transformers, offline with the packaged all-MiniLM-L6-v2.

SmartSentenceTransformer is a drop-in SentenceTransformer: the first stage below is plain
sentence-transformers (encode + util.semantic_search over pooled embeddings); SMART then reranks
its candidates with the token states of the same model and prints pooled / late / hybrid scores.

Run:  python examples/sentence_transformers_example.py [--queries 4] [--k 3]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from sentence_transformers import util

from smart_plugins.integrations.sentence_transformers import SmartSentenceTransformer

DATA = Path(__file__).resolve().parent / "data"


def load_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="minilm", help="model path or packaged alias (default: minilm)")
    parser.add_argument("--queries", type=int, default=4, help="how many example queries to run")
    parser.add_argument("--k", type=int, default=3, help="hits shown per query")
    parser.add_argument("--candidates", type=int, default=10, help="first-stage candidates reranked")
    args = parser.parse_args(argv)

    docs = load_jsonl(DATA / "debian_packages.jsonl")
    queries = load_jsonl(DATA / "debian_queries.jsonl")[: args.queries]
    model = SmartSentenceTransformer(args.model)
    texts = [d["text"] for d in docs]

    # First stage: exactly what a sentence-transformers user already runs.
    doc_emb = model.encode_document(texts, convert_to_tensor=True)
    query_emb = model.encode_query([q["query"] for q in queries], convert_to_tensor=True)
    first_stage = util.semantic_search(query_emb, doc_emb, top_k=args.candidates)

    for query, candidates in zip(queries, first_stage):
        ids = [c["corpus_id"] for c in candidates]
        print(f"query: {query['query']!r}  (relevant: {query['relevant']})")
        print(f"  pooled top-1: {docs[ids[0]]['id']}")
        scores = model.smart_scores([query["query"]], [texts[i] for i in ids])
        order = scores.hybrid[0].argsort(descending=True)[: args.k].tolist()
        print(f"  {'rank':<5} {'document':<34}{'pooled':>8}{'late':>8}{'hybrid':>8}")
        for rank, j in enumerate(order, start=1):
            mark = "*" if docs[ids[j]]["id"] == query["relevant"] else " "
            print(
                f"  {rank:<5}{mark}{docs[ids[j]]['id']:<34}{scores.pooled[0, j]:>8.3f}"
                f"{scores.late[0, j]:>8.3f}{scores.hybrid[0, j]:>8.3f}"
            )
        print()


if __name__ == "__main__":
    main()
