"""Images as SMART documents, end to end, offline: encode, index, search, rerank, heatmap.

The model is a tiny *randomly initialised* Qwen3-VL (``Qwen3VLModel`` with its
``Qwen3VLProcessor``, the architecture of Qwen3-VL-Embedding) built on the fly from transformers'
configs, so this runs anywhere in seconds. Its scores mean nothing; the code path is exactly the
one a hub model takes. For real retrieval, pass a hub name instead of the tiny folder, e.g.
``SmartEncoder("Qwen/Qwen3-VL-Embedding-2B")`` or ``SmartEncoder("openai/clip-vit-base-patch32")``
(see docs/multimodal.md).

Run: ``python examples/multimodal_example.py [--out DIR] [--model qwen3_vl|qwen2_vl|vlm|clip|siglip]``
(``vlm`` is a LLaVA-architecture model with Qwen-style chat tokens.)
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

BUILDERS = {
    "qwen3_vl": "build_tiny_qwen3_vl",
    "qwen2_vl": "build_tiny_qwen2_vl",
    "vlm": "build_tiny_vlm",
    "clip": "build_tiny_clip",
    "siglip": "build_tiny_siglip",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="folder for the model, images, index and heatmap (default: a temporary folder)")
    parser.add_argument("--model", choices=sorted(BUILDERS), default="qwen3_vl", help="tiny model (default: qwen3_vl)")
    args = parser.parse_args(argv)

    from smart_plugins.encoder import SmartEncoder, tiny_models
    from smart_plugins.index import SmartIndex
    from smart_plugins.index.heatmap import explain_heatmap

    out = Path(args.out or tempfile.mkdtemp(prefix="smart-multimodal-"))
    folder = getattr(tiny_models, BUILDERS[args.model])(out / "model")
    pages = tiny_models.write_test_images(out / "pages")
    encoder = SmartEncoder(str(folder), device="cpu")
    print(f"model: tiny random {args.model} ({encoder.family}), modalities {encoder.modalities}")

    # fp16 token storage: the default residual codec trains k-means centroids, pointless on five documents
    index = SmartIndex.create(out / "index", encoder, compression="fp16")
    index.add([str(p) for p in pages], ids=[p.stem for p in pages])
    index.add(["a short note about red squares"], ids=["note"])
    described = index.info()
    print(f"indexed {len(index)} documents ({described['tokens']} token vectors)")

    for query in ("red square", str(pages[2])):
        shown = Path(query).name if os.path.sep in query else query
        print(f"query: {shown}")
        for hit in index.search(query, k=3):
            late = "-" if hit.late is None else f"{hit.late:.3f}"
            print(f"  {hit.rank}. {hit.id:<14} pooled {hit.pooled:.3f} late {late} hybrid {hit.score:.3f}")

    reranked = index.rerank("green circle", [p.stem for p in pages])
    print("rerank 'green circle':", ", ".join(h.id for h in reranked))
    heatmap = explain_heatmap(index, "red square", pages[0].stem, out / "heatmap-red_square.png")
    print(f"heatmap saved to {heatmap}")
    index.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
