"""Two MaxSim kernels side by side: this checkout's against another version of ``maxsim.py``.

For changes to the kernel, where one ``maxsim_speed.py`` run before and one after would compare
two different moments of a shared, noisy machine: both kernels run in one process, on the same
tensors, one call at a time with the methods in a new random order every round, next to the plain
product in both orientations. Scores must agree (1e-6) before anything is timed. Prints, per
scenario, medians in ms, each kernel's time over the faster product, and new / old.

    git show 4723d8f:smart_plugins/scoring/maxsim.py > /tmp/maxsim_old.py
    python benchmarks/maxsim_compare.py /tmp/maxsim_old.py [--rounds 200] [--threads 2]

Scenarios (``--scenarios``, comma-separated ``QUERIESxQUERY_TOKENSxDOCS``, documents of ~120
tokens, 384-d): the default covers the rerank yardstick at 4-17 query tokens, two short queries,
and single queries against 300-4,000 documents.
"""

from __future__ import annotations

import argparse
import importlib.util
import random
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import torch
import torch.nn.functional as F

from smart_plugins.scoring import maxsim, pack_tokens

DEFAULT_SCENARIOS = "1x16x100,1x12x100,1x4x100,2x8x100,1x17x100,1x16x300,1x8x1000,1x16x1000,1x16x4000"


def load_kernel(path: Path) -> ModuleType:
    """Import a ``maxsim.py`` from ``path`` as a module of its own (it imports only public packages)."""
    spec = importlib.util.spec_from_file_location("maxsim_baseline", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def shuffled_medians(methods: dict[str, Callable[[], object]], rounds: int, seed: int = 0) -> dict[str, float]:
    """Median ms of single calls, every round in a new random order (after two warm-up calls each)."""
    for fn in methods.values():
        fn(), fn()
    order = random.Random(seed)
    samples: dict[str, list[float]] = {name: [] for name in methods}
    for _ in range(rounds):
        names = list(methods)
        order.shuffle(names)
        for name in names:
            start = time.perf_counter()
            methods[name]()
            samples[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) * 1e3 for name, values in samples.items()}


def scenario(old: ModuleType, n_queries: int, query_tokens: int, n_docs: int, rounds: int, dim: int = 384) -> dict[str, float]:
    gen = torch.Generator().manual_seed(0)
    q, qo = pack_tokens([F.normalize(torch.randn(query_tokens, dim, generator=gen), dim=-1) for _ in range(n_queries)])
    lengths = torch.randint(100, 141, (n_docs,), generator=gen)
    d, do = pack_tokens([F.normalize(torch.randn(int(n), dim, generator=gen), dim=-1) for n in lengths])
    result: dict[str, float] = {}
    for label, (qq, dd) in {"fp32": (q, d), "bf16": (q.bfloat16(), d.bfloat16())}.items():
        gap = float((old.maxsim(qq, qo, dd, do) - maxsim(qq, qo, dd, do)).abs().max())
        if gap > 1e-6:
            raise SystemExit(f"the kernels disagree by {gap:.1e} ({label}, {n_queries}x{query_tokens}x{n_docs})")
        methods = {
            f"old {label}": lambda qq=qq, dd=dd: old.maxsim(qq, qo, dd, do),
            f"new {label}": lambda qq=qq, dd=dd: maxsim(qq, qo, dd, do),
            f"q @ d.T {label}": lambda qq=qq, dd=dd: qq @ dd.T,
            f"d @ q.T {label}": lambda qq=qq, dd=dd: dd @ qq.T,
        }
        result.update(shuffled_medians(methods, max(3, rounds * 100 // max(100, n_docs))))
    return result


def main(argv: list[str] | None = None) -> dict[str, dict[str, float]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("baseline", type=Path, help="path of the other maxsim.py")
    parser.add_argument("--scenarios", default=DEFAULT_SCENARIOS)
    parser.add_argument("--rounds", type=int, default=200, help="rounds at 100 documents (fewer for larger sets)")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    old = load_kernel(args.baseline)
    print(f"torch {torch.__version__}, {args.threads} threads; old = {args.baseline}, new = this checkout")
    results = {}
    for spec in args.scenarios.split(","):
        n_queries, query_tokens, n_docs = (int(part) for part in spec.split("x"))
        m = scenario(old, n_queries, query_tokens, n_docs, args.rounds)
        results[spec] = m
        cells = []
        for label in ("fp32", "bf16"):
            floor = min(m[f"q @ d.T {label}"], m[f"d @ q.T {label}"])
            cells.append(f"{label}: old {m[f'old {label}']:.3f} new {m[f'new {label}']:.3f} ms, / faster product "
                         f"{m[f'old {label}'] / floor:.2f} -> {m[f'new {label}'] / floor:.2f}, new/old {m[f'new {label}'] / m[f'old {label}']:.2f}")
        print(f"{n_queries} x {query_tokens} tokens x {n_docs} docs | " + " | ".join(cells))
    return results


if __name__ == "__main__":
    main()
