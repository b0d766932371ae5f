"""The same SMART index on Qdrant Edge, searched through LangChain unchanged (offline, packaged MiniLM).

1. Build a local index folder (the default store) and a Qdrant Edge index from the same corpus:
   ``SmartIndex.create(..., store="qdrant-edge")`` keeps a Qdrant shard inside the folder.
2. Hand either to LangChain's ``SmartRetriever(index=...)``: the adapter does not know which store
   it searches. Each query on Edge is one Qdrant request (pooled prefetch -> MaxSim -> hybrid formula).
3. Copy the local index into Qdrant without re-encoding (``export_to_qdrant``), as
   ``smart-plugins index export DIR --to-qdrant PATH`` does.

Run:  python examples/qdrant_edge_example.py [--queries 4] [--k 3]
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path

from smart_plugins.encoder import SmartEncoder
from smart_plugins.index import SmartIndex
from smart_plugins.index.export import export_to_qdrant
from smart_plugins.integrations.langchain import SmartRetriever

DATA = Path(__file__).resolve().parent / "data"


def load_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="minilm", help="model path or packaged alias (default: minilm)")
    parser.add_argument("--queries", type=int, default=4, help="how many example queries to run")
    parser.add_argument("--k", type=int, default=3, help="hits shown per query")
    args = parser.parse_args(argv)

    rows = load_jsonl(DATA / "debian_packages.jsonl")
    queries = load_jsonl(DATA / "debian_queries.jsonl")[: args.queries]
    encoder = SmartEncoder(args.model)
    texts, ids = [r["text"] for r in rows], [r["id"] for r in rows]
    root = Path(tempfile.mkdtemp(prefix="qdrant-edge-example-"))

    local = SmartIndex.create(root / "local", encoder, compression="fp16")
    edge = SmartIndex.create(root / "edge", encoder, store="qdrant-edge")
    for index in (local, edge):
        index.add(texts, ids=ids, metadata=[{"package": i} for i in ids])
    copy = export_to_qdrant(local, root / "exported")  # no re-encoding: the stored vectors are copied
    print(f"local: {local.info()['compression']}; edge: {edge.info()['store']} in {edge.path}/shard; "
          f"exported copy: {len(copy)} documents")

    for query in queries:
        print(f"query: {query['query']!r}  (relevant: {query['relevant']})")
        for name, index in (("local folder", local), ("Qdrant Edge", edge), ("exported to Edge", copy)):
            retriever = SmartRetriever(index=index, k=args.k)
            print(f"  SmartRetriever over the {name} index")
            for rank, doc in enumerate(retriever.invoke(query["query"]), start=1):
                m = doc.metadata
                mark = "*" if m["package"] == query["relevant"] else " "
                print(f"    {rank}{mark} {m['package']:<34} pooled {m['smart_pooled']:.3f}  "
                      f"late {m['smart_late']:.3f}  hybrid {m['relevance_score']:.3f}")
        print()
    for index in (local, edge, copy):
        index.close()
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
