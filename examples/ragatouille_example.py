"""RAGatouille-style code on SMART, offline with the packaged all-MiniLM-L6-v2.

Switch by changing one import: ``from ragatouille import RAGPretrainedModel`` becomes the line
below. Index (first stage pooled, then exact SMART rerank), search with metadata, delete, and
in-memory rerank of a first-stage list, printing pooled / late / hybrid scores.

Run:  python examples/ragatouille_example.py [--queries 4] [--k 3]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from smart_plugins.integrations.ragatouille import SmartRAG as RAGPretrainedModel

DATA = Path(__file__).resolve().parent / "data"


def load_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def show(results: list[dict], relevant: str, key: str) -> None:
    for r in results:
        mark = "*" if r[key] == relevant else " "
        print(f"    {r['rank']}{mark} {r[key]:<34} pooled {r['pooled_score']:.3f}  late {r['late_score']:.3f}  hybrid {r['score']:.3f}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="minilm", help="model path or packaged alias (default: minilm)")
    parser.add_argument("--queries", type=int, default=4, help="how many example queries to run")
    parser.add_argument("--k", type=int, default=3, help="hits shown per query")
    parser.add_argument("--index-root", default=None, help="where indexes go (default: a temporary folder)")
    args = parser.parse_args(argv)

    rows = load_jsonl(DATA / "debian_packages.jsonl")
    queries = load_jsonl(DATA / "debian_queries.jsonl")[: args.queries]
    with tempfile.TemporaryDirectory() as tmp:
        RAG = RAGPretrainedModel.from_pretrained(args.model, index_root=args.index_root or tmp)
        path = RAG.index(
            collection=[r["text"] for r in rows],
            document_ids=[r["id"] for r in rows],
            document_metadatas=[{"family": r["id"].split("-")[0]} for r in rows],
            index_name="debian",
            max_document_length=128,
        )
        print(f"index at {path}\n")
        for query in queries:
            print(f"query: {query['query']!r}  (relevant: {query['relevant']})")
            print("  RAG.search")
            show(RAG.search(query["query"], k=args.k), query["relevant"], "document_id")
        # in-memory rerank of any first-stage list (here: the first 10 documents as plain texts)
        texts = {r["text"]: r["id"] for r in rows[:10]}
        reranked = RAG.rerank(queries[0]["query"], list(texts), k=args.k)
        for r in reranked:
            r["package"] = texts[r["content"]]
        print(f"\nRAG.rerank over 10 texts for {queries[0]['query']!r}")
        show(reranked, queries[0]["relevant"], "package")
        RAG.delete_from_index([queries[0]["relevant"]])
        left = [r["document_id"] for r in RAG.search(queries[0]["query"], k=args.k)]
        print(f"\nafter delete_from_index([{queries[0]['relevant']!r}]): {left}")
        RAG.model_index.close()


if __name__ == "__main__":
    main()
