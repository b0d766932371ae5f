"""SMART in a LangChain pipeline, offline with the packaged all-MiniLM-L6-v2 (no LLM key needed).

1. First stage: a LangChain InMemoryVectorStore filled by SmartEmbeddings (the model's pooled vectors).
2. SmartReranker (a BaseDocumentCompressor) SMART-reranks its candidates -> relevance_score.
3. SmartRetriever: the same corpus in a smart-plugins index, two-stage SMART search in one call.
The pipeline stops at the retrieved context; plug any LLM chain in after it.

Run:  python examples/langchain_example.py [--queries 4] [--k 3]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from langchain_core.documents import Document
from langchain_core.runnables import RunnableLambda
from langchain_core.vectorstores import InMemoryVectorStore

from smart_plugins.encoder import SmartEncoder
from smart_plugins.integrations.langchain import SmartEmbeddings, SmartReranker, SmartRetriever

DATA = Path(__file__).resolve().parent / "data"


def load_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def show(title: str, docs: list[Document], relevant: str) -> None:
    print(f"  {title}")
    for rank, doc in enumerate(docs, start=1):
        mark = "*" if doc.metadata["package"] == relevant else " "
        m = doc.metadata
        print(f"    {rank}{mark} {m['package']:<34} pooled {m['smart_pooled']:.3f}  late {m['smart_late']:.3f}  hybrid {m['relevance_score']:.3f}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="minilm", help="model path or packaged alias (default: minilm)")
    parser.add_argument("--queries", type=int, default=4, help="how many example queries to run")
    parser.add_argument("--k", type=int, default=3, help="hits shown per query")
    args = parser.parse_args(argv)

    rows = load_jsonl(DATA / "debian_packages.jsonl")
    queries = load_jsonl(DATA / "debian_queries.jsonl")[: args.queries]
    docs = [Document(page_content=r["text"], metadata={"package": r["id"]}, id=r["id"]) for r in rows]
    encoder = SmartEncoder(args.model)  # one model shared by every component

    store = InMemoryVectorStore(embedding=SmartEmbeddings(encoder=encoder))
    store.add_documents(docs)
    first_stage = store.as_retriever(search_kwargs={"k": 10})
    reranker = SmartReranker(encoder=encoder, top_n=args.k)
    pipeline = RunnableLambda(lambda q: reranker.compress_documents(first_stage.invoke(q), q))

    smart = SmartRetriever.from_documents(docs, encoder=encoder, k=args.k)

    for query in queries:
        print(f"query: {query['query']!r}  (relevant: {query['relevant']})")
        pooled_top = first_stage.invoke(query["query"])[0].metadata["package"]
        print(f"  vector store (pooled) top-1: {pooled_top}")
        show("InMemoryVectorStore -> SmartReranker", pipeline.invoke(query["query"]), query["relevant"])
        show("SmartRetriever (SMART index)", smart.invoke(query["query"]), query["relevant"])
        print()


if __name__ == "__main__":
    main()
