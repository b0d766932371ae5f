"""Where the rerank time goes: gather, residual decode steps and MaxSim for one query's candidates.

Times each step of ``SmartIndex._late_scores`` on in-memory synthetic codes (no page cache or
memory-map effects: those are what ``index_latency.py`` adds on top), for ``--candidates``
documents of ``--avg-tokens`` tokens each, and checks that decoding into preallocated buffers
gives bit-identical vectors.

    flock /tmp/cpu-heavy.lock python benchmarks/index_rerank_profile.py
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
import torch

from smart_plugins.index.codecs import make_codec
from smart_plugins.scoring import maxsim, reduce_similarities


def timed(fn: Callable[[], object], repeats: int) -> float:
    """Mean milliseconds per call after one warm-up call."""
    fn()
    t0 = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - t0) / repeats * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--compression", default="residual-4")
    parser.add_argument("--candidates", type=int, default=100)
    parser.add_argument("--avg-tokens", type=int, default=64)
    parser.add_argument("--store-docs", type=int, default=10000)
    parser.add_argument("--query-tokens", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    dim, per_doc = args.dim, args.avg_tokens

    sample = rng.normal(size=(20000, dim)).astype(np.float32)
    sample /= np.linalg.norm(sample, axis=1, keepdims=True)
    codec = make_codec(args.compression, dim)
    if codec.needs_training:
        codec.train(sample)
    base = codec.encode(sample[:2000])
    n_tokens = args.store_docs * per_doc
    store = {name: np.resize(array, (n_tokens, *array.shape[1:])) for name, array in base.items()}
    offsets = np.arange(args.store_docs + 1, dtype=np.int64) * per_doc
    rows = np.sort(rng.choice(args.store_docs, args.candidates, replace=False))
    index = np.concatenate([np.arange(offsets[r], offsets[r + 1]) for r in rows])
    query = torch.nn.functional.normalize(torch.randn(args.query_tokens, dim), dim=-1)
    q_offsets = torch.tensor([0, args.query_tokens])
    d_offsets = torch.from_numpy(np.arange(args.candidates + 1, dtype=np.int64) * per_doc)

    gathered = {name: array[index] for name, array in store.items()}
    print(f"{args.candidates} candidates x {per_doc} tokens, {args.compression}, {args.threads} threads")
    print(f"  gather (fancy index):      {timed(lambda: {n: a[index] for n, a in store.items()}, args.repeats):.2f} ms")
    print(f"  gather (slice per doc):    "
          f"{timed(lambda: {n: np.concatenate([a[offsets[r]:offsets[r + 1]] for r in rows]) for n, a in store.items()}, args.repeats):.2f} ms")
    print(f"  decode (codec.decode):     {timed(lambda: codec.decode(gathered), args.repeats):.2f} ms")
    decoded = codec.decode(gathered)
    if "residuals" in gathered:
        lut = codec._byte_table()
        values = np.take(lut, gathered["residuals"], axis=0).view(np.float32).reshape(-1, dim)
        print(f"    lookup-table take:       {timed(lambda: np.take(lut, gathered['residuals'], axis=0), args.repeats):.2f} ms")
        print(f"    + centroid gather/add:   "
              f"{timed(lambda: values + np.take(codec.centroids, gathered['centroid_ids'], axis=0), args.repeats):.2f} ms")
        print(f"    norms:                   {timed(lambda: np.sqrt(np.einsum('ij,ij->i', values, values)), args.repeats):.2f} ms")
        flat = np.empty(len(index) * dim, dtype=np.float32)
        cent = np.empty((len(index), dim), dtype=np.float32)
        norms = np.empty(len(index), dtype=np.float32)

        def decode_prealloc() -> np.ndarray:
            out = flat.view(lut.dtype).reshape(len(index), -1, lut.shape[1])
            np.take(lut, gathered["residuals"], axis=0, out=out, mode="clip")
            vec = flat.reshape(len(index), dim)
            np.take(codec.centroids, gathered["centroid_ids"], axis=0, out=cent, mode="clip")
            vec += cent
            np.einsum("ij,ij->i", vec, vec, out=norms)
            np.sqrt(norms, out=norms)
            np.maximum(norms, 1e-12, out=norms)
            vec /= norms[:, None]
            return vec

        same = np.array_equal(decode_prealloc(), decoded.numpy())
        print(f"  decode (preallocated):     {timed(decode_prealloc, args.repeats):.2f} ms  (identical: {same})")
    print(f"  maxsim fp32:               {timed(lambda: maxsim(query, q_offsets, decoded, d_offsets), args.repeats):.2f} ms")
    bf16 = timed(lambda: maxsim(query, q_offsets, decoded, d_offsets, compute_dtype=torch.bfloat16), args.repeats)
    diff = (maxsim(query, q_offsets, decoded, d_offsets) - maxsim(query, q_offsets, decoded, d_offsets, compute_dtype=torch.bfloat16)).abs().max()
    print(f"  maxsim bf16:               {bf16:.2f} ms  (max |score diff| vs fp32 {float(diff):.2e})")

    # what SmartIndex._late_scores runs: the codec's similarities + the shared reduction, side by side
    # with the older decode + maxsim route (the two alternate, so machine noise hits both alike)
    def from_codes() -> torch.Tensor:
        return reduce_similarities(codec.similarities(gathered, query), d_offsets, q_offsets)

    def decoded_route() -> torch.Tensor:
        return maxsim(query, q_offsets, codec.decode(gathered), d_offsets)

    routes = {"codes": [], "decode": []}
    from_codes(), decoded_route()
    for _ in range(args.repeats):
        for name, fn in (("codes", from_codes), ("decode", decoded_route)):
            t0 = time.perf_counter()
            fn()
            routes[name].append((time.perf_counter() - t0) * 1000)
    gap = float((from_codes() - decoded_route()).abs().max())
    print(f"  rerank, codec.similarities + reduce: {np.median(routes['codes']):.2f} ms p50 "
          f"vs decode + maxsim {np.median(routes['decode']):.2f} ms p50 (max |score diff| {gap:.1e})")


if __name__ == "__main__":
    main()
