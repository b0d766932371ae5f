"""SMART in a LlamaIndex pipeline, offline with the packaged all-MiniLM-L6-v2 (no LLM key needed).

1. First stage: a plain VectorStoreIndex with SmartPooledEmbedding (the model's pooled vectors).
2. SmartRerank (a node postprocessor) SMART-reranks its nodes; scores written back.
3. SmartRetriever over a smart-plugins index, inside a RetrieverQueryEngine (response_mode
   "no_text": the pipeline stops at the retrieved context, so no LLM is called).

Run:  python examples/llama_index_example.py [--queries 4] [--k 3]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from llama_index.core import VectorStoreIndex
from llama_index.core.llms import MockLLM
from llama_index.core.query_engine import RetrieverQueryEngine
from llama_index.core.response_synthesizers.no_text import NoText
from llama_index.core.schema import NodeWithScore, TextNode

from smart_plugins.encoder import SmartEncoder
from smart_plugins.integrations.llama_index import SmartPooledEmbedding, SmartRerank, SmartRetriever

DATA = Path(__file__).resolve().parent / "data"


def load_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def show(title: str, nodes: list[NodeWithScore], relevant: str) -> None:
    print(f"  {title}")
    for rank, item in enumerate(nodes, start=1):
        m = item.node.metadata
        mark = "*" if m["package"] == relevant else " "
        print(f"    {rank}{mark} {m['package']:<34} pooled {m['smart_pooled']:.3f}  late {m['smart_late']:.3f}  hybrid {item.score:.3f}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="minilm", help="model path or packaged alias (default: minilm)")
    parser.add_argument("--queries", type=int, default=4, help="how many example queries to run")
    parser.add_argument("--k", type=int, default=3, help="hits shown per query")
    args = parser.parse_args(argv)

    rows = load_jsonl(DATA / "debian_packages.jsonl")
    queries = load_jsonl(DATA / "debian_queries.jsonl")[: args.queries]
    nodes = [TextNode(text=r["text"], id_=r["id"], metadata={"package": r["id"]}) for r in rows]
    encoder = SmartEncoder(args.model)  # one model shared by every component

    vector_index = VectorStoreIndex(nodes, embed_model=SmartPooledEmbedding(encoder=encoder))
    first_stage = vector_index.as_retriever(similarity_top_k=10)
    rerank = SmartRerank(encoder=encoder, top_n=args.k, keep_retrieval_score=True)

    no_llm = NoText(llm=MockLLM())  # stop at the retrieved context (get_response_synthesizer's no_text drops llm=)
    engine = RetrieverQueryEngine(
        SmartRetriever(nodes=nodes, encoder=encoder, similarity_top_k=args.k), response_synthesizer=no_llm
    )

    for query in queries:
        print(f"query: {query['query']!r}  (relevant: {query['relevant']})")
        candidates = first_stage.retrieve(query["query"])
        print(f"  VectorStoreIndex (pooled) top-1: {candidates[0].node.metadata['package']}")
        show("VectorStoreIndex -> SmartRerank", rerank.postprocess_nodes(candidates, query_str=query["query"]), query["relevant"])
        show("SmartRetriever in RetrieverQueryEngine", engine.query(query["query"]).source_nodes, query["relevant"])
        print()


if __name__ == "__main__":
    main()
