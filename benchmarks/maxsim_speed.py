"""MaxSim rerank speed: smart-plugins' kernel vs sentence-transformers' ``maxsim``, side by side.

Default scenario (the project's yardstick): one query of exactly 16 tokens against 100 documents
of ~120 tokens, 384-d (MiniLM's width; 96 % of the debian tasks' queries have at most 16 tokens). Methods are timed in alternating rounds in one process, on the
same tensors, and the ratio of medians is printed. A second scenario scores a batch of queries
against a larger candidate set to show throughput.

The plain matrix product of the same shape (queries x all document tokens, nothing reduced) is
timed in the same rounds, in both orientations (``q @ d.T`` and ``d @ q.T``; torch's CPU matmul
is up to 1.5x faster in the second for short queries), and the faster one is the floor: MaxSim
cannot be faster than the best product of its shape.

Run:  flock /tmp/cpu-heavy.lock python benchmarks/maxsim_speed.py [--docs 100] [--doc-tokens 120] [--query-tokens 16] [--rounds 7]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from sentence_transformers.util import maxsim as st_maxsim

from smart_plugins.scoring import maxsim, pack_tokens


def random_texts(count: int, mean_tokens: int, dim: int, gen: torch.Generator, spread: int | None = None) -> list[torch.Tensor]:
    spread = max(1, mean_tokens // 6) if spread is None else spread
    lengths = torch.randint(mean_tokens - spread, mean_tokens + spread + 1, (count,), generator=gen)
    return [F.normalize(torch.randn(int(n), dim, generator=gen), dim=-1) for n in lengths]


def time_block(fn: Callable[[], object], calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls * 1e3


def compare(methods: dict[str, Callable[[], object]], rounds: int, calls: int) -> dict[str, float]:
    for fn in methods.values():  # warm-up
        for _ in range(3):
            fn()
    samples: dict[str, list[float]] = {name: [] for name in methods}
    for _ in range(rounds):
        for name, fn in methods.items():
            samples[name].append(time_block(fn, calls))
    return {name: statistics.median(values) for name, values in samples.items()}


def memory_bandwidth_gbs() -> float:
    """Rough read+write bandwidth of this machine: a 256 MB tensor copy."""
    src = torch.ones(64 * 2**20)
    dst = torch.empty_like(src)
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        dst.copy_(src)
        best = min(best, time.perf_counter() - start)
    return 2 * src.numel() * 4 / best / 1e9


def scenario(name: str, n_queries: int, n_docs: int, doc_tokens: int, query_tokens: int, dim: int, rounds: int, calls: int,
             query_spread: int | None = None) -> None:
    gen = torch.Generator().manual_seed(0)
    queries = random_texts(n_queries, query_tokens, dim, gen, spread=query_spread)
    docs = random_texts(n_docs, doc_tokens, dim, gen)
    q_tokens, q_offsets = pack_tokens(queries)
    d_tokens, d_offsets = pack_tokens(docs)
    d_bf16, q_bf16 = d_tokens.bfloat16(), q_tokens.bfloat16()
    d_fp16 = d_tokens.half()
    padded_docs = torch.nn.utils.rnn.pad_sequence(docs, batch_first=True)
    doc_mask = torch.nn.utils.rnn.pad_sequence([torch.ones(len(d), dtype=torch.bool) for d in docs], batch_first=True)
    padded_queries = torch.nn.utils.rnn.pad_sequence(queries, batch_first=True)
    query_mask = torch.nn.utils.rnn.pad_sequence([torch.ones(len(q), dtype=torch.bool) for q in queries], batch_first=True)

    methods = {
        "sentence-transformers maxsim (lists)": lambda: st_maxsim(queries, docs, length_normalize=True),
        "sentence-transformers maxsim (padded)": lambda: st_maxsim(
            padded_queries, padded_docs, a_mask=query_mask, b_mask=doc_mask, length_normalize=True
        ),
        "smart-plugins maxsim fp32": lambda: maxsim(q_tokens, q_offsets, d_tokens, d_offsets),
        "smart-plugins maxsim bf16": lambda: maxsim(q_bf16, q_offsets, d_bf16, d_offsets),
        "smart-plugins maxsim fp16 store": lambda: maxsim(q_tokens, q_offsets, d_fp16, d_offsets),
        # The reference floor: the plain matrix product of the same shape, nothing reduced.
        "plain matmul fp32 q @ d.T": lambda: q_tokens @ d_tokens.T,
        "plain matmul fp32 d @ q.T": lambda: d_tokens @ q_tokens.T,
        "plain matmul bf16 q @ d.T": lambda: q_bf16 @ d_bf16.T,
        "plain matmul bf16 d @ q.T": lambda: d_bf16 @ q_bf16.T,
    }
    reference = st_maxsim(queries, docs, length_normalize=True)
    ours = maxsim(q_tokens, q_offsets, d_tokens, d_offsets)
    ours_bf16 = maxsim(q_bf16, q_offsets, d_bf16, d_offsets)
    medians = compare(methods, rounds, calls)
    total_tokens = int(d_offsets[-1])
    print(f"\n== {name}: {n_queries} quer{'y' if n_queries == 1 else 'ies'} x {n_docs} docs, "
          f"{total_tokens} doc tokens ({total_tokens / n_docs:.0f}/doc), {int(q_offsets[-1])} query tokens, {dim}-d")
    print(f"   max |diff| vs sentence-transformers: fp32 {float((ours - reference).abs().max()):.1e}, "
          f"bf16 {float((ours_bf16 - reference).abs().max()):.1e}")
    base = medians["sentence-transformers maxsim (lists)"]
    for label, ms in medians.items():
        print(f"   {label:<40} {ms:8.3f} ms   {base / ms:5.2f}x")
    st_best = min(medians["sentence-transformers maxsim (lists)"], medians["sentence-transformers maxsim (padded)"])
    fp32, bf16 = medians["smart-plugins maxsim fp32"], medians["smart-plugins maxsim bf16"]
    floor32 = min(medians["plain matmul fp32 q @ d.T"], medians["plain matmul fp32 d @ q.T"])
    floor16 = min(medians["plain matmul bf16 q @ d.T"], medians["plain matmul bf16 d @ q.T"])
    print(f"   speed-up over sentence-transformers' best form: fp32 {st_best / fp32:.2f}x, bf16 {st_best / bf16:.2f}x; "
          f"time / best plain matmul of the same shape: fp32 {fp32 / floor32:.2f}, "
          f"bf16 {bf16 / floor16:.2f}; bf16 / fp32 time {bf16 / fp32:.2f}")
    flops = 2 * total_tokens * int(q_offsets[-1]) * dim
    fp32_bytes = total_tokens * dim * 4
    bandwidth = memory_bandwidth_gbs()
    print(f"   work: {flops / 1e6:.0f} MFLOP; doc tokens {fp32_bytes / 2**20:.1f} MiB fp32 -> "
          f"reading them once at the measured {bandwidth:.0f} GB/s copy bandwidth takes {fp32_bytes / bandwidth / 1e6:.2f} ms "
          f"({fp32_bytes / 2 / bandwidth / 1e6:.2f} ms at 16 bit)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=100)
    parser.add_argument("--doc-tokens", type=int, default=120)
    parser.add_argument("--query-tokens", type=int, default=16)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    scenario("rerank", 1, args.docs, args.doc_tokens, args.query_tokens, args.dim, args.rounds, calls=20, query_spread=0)
    scenario("batch", 32, 1000, args.doc_tokens, args.query_tokens, args.dim, max(3, args.rounds // 2), calls=1)


if __name__ == "__main__":
    main()
