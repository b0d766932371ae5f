"""Tiny multimodal models: visual tokens kept per page, stored bytes per page, and encode speed ratios.

The models are the randomly initialised tiny ones of :mod:`smart_plugins.encoder.tiny_models`
(CLIP, SigLIP, a LLaVA-architecture VLM with Qwen-style tokens), so the figures describe the code
path (masks, storage, overhead of SMART's token extraction over ``SentenceTransformer.encode``),
not retrieval quality or real-model speed. Both encoders run in one process on the same pages,
in alternating rounds; the ratio of medians is printed.

Also prints the storage a real 2B VLM page would need at its width (``--real-dim``, Qwen3-VL-2B:
2048) for ``--real-tokens`` visual tokens, from the codecs' bytes per token measured here.

Run:  flock /tmp/cpu-heavy.lock python benchmarks/multimodal_tiny.py [--pages 32] [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from sentence_transformers import SentenceTransformer

from smart_plugins.encoder import SmartEncoder
from smart_plugins.encoder import tiny_models
from smart_plugins.index import SmartIndex
from smart_plugins.index.codecs import make_codec


def pages(folder: Path, count: int) -> list[str]:
    rng = np.random.RandomState(0)
    paths = []
    for i in range(count):
        image = Image.fromarray((rng.rand(96, 72, 3) * 255).astype("uint8"))
        path = folder / f"page-{i:03d}.png"
        image.save(path)
        paths.append(str(path))
    return paths


def median_ms(fn, rounds: int) -> float:
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1e3)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--real-dim", type=int, default=2048)
    parser.add_argument("--real-tokens", type=int, default=1000)
    args = parser.parse_args()
    torch.set_num_threads(1)
    root = Path(tempfile.mkdtemp(prefix="mm-bench-"))
    paths = pages(root, args.pages)
    print(f"{args.pages} generated 96x72 pages, 1 thread, median of {args.rounds} rounds")
    print(f"{'model':<8} {'kept/page':>9} {'ST ms':>8} {'SMART ms':>9} {'ratio':>6} {'fp16 B/page':>12} {'res-2 B/page':>13}")
    for name in ("clip", "siglip", "vlm"):
        folder = getattr(tiny_models, f"build_tiny_{name}")(root / name)
        st = SentenceTransformer(str(folder), device="cpu")
        encoder = SmartEncoder(st, device="cpu")
        st.encode(paths[:2]), encoder.encode(paths[:2])  # warm-up
        times: dict[str, list[float]] = {"st": [], "smart": []}
        for _ in range(args.rounds):
            times["st"].append(median_ms(lambda: st.encode(paths, batch_size=32), 1))
            times["smart"].append(median_ms(lambda: encoder.encode_documents(paths), 1))
        st_ms, smart_ms = statistics.median(times["st"]), statistics.median(times["smart"])
        encoded = encoder.encode_documents(paths)
        per_page = float(encoded.lengths.float().mean())
        sizes = {}
        for compression in ("fp16", "residual-2"):
            index = SmartIndex.create(None, encoder, compression=compression, weights="1:1")  # no label-free fit: storage only
            index.add_encoded(encoded, paths)
            sizes[compression] = index.info()["token_bytes_per_token"] * per_page
            index.close()
        print(f"{name:<8} {per_page:>9.1f} {st_ms:>8.1f} {smart_ms:>9.1f} {smart_ms / st_ms:>6.2f} "
              f"{sizes['fp16']:>12.0f} {sizes['residual-2']:>13.0f}")
    for compression in ("fp16", "int8", "residual-2"):
        per_token = make_codec(compression, dim=args.real_dim).bytes_per_token
        print(f"a {args.real_tokens}-token page at {args.real_dim}-d, {compression}: {per_token * args.real_tokens / 1024:.0f} KiB")


if __name__ == "__main__":
    main()
