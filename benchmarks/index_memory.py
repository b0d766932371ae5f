"""Index memory under a capped page cache: search an index several times larger than the cap.

A synthetic SmartIndex (built with ``benchmarks/index_latency.py``'s helpers, or reused from
``--work``) is searched by a child process twice, side by side in one run:

* **uncapped, warm**: the index files are read once into the page cache first, and the child runs
  in a fresh memory cgroup without a limit;
* **capped, cold**: the child drops the index files from the page cache with
  ``os.posix_fadvise(POSIX_FADV_DONTNEED)`` (``/proc/sys/vm/drop_caches`` is not used: it would
  drop every process's cache on a shared machine), then runs in a fresh cgroup v1 memory group
  whose ``memory.limit_in_bytes`` is ``--cap`` (the limit counts page cache too).

The child joins its cgroup *after* importing torch and opening the index (``--join late``, the
default): the cap then bounds what searching adds (index pages read through the page cache plus
heap growth), not the ~360 MiB that importing torch costs, which is larger than the default cap
on its own. ``--join early`` puts the whole child under the cap (use a cap above that baseline).

For each run it prints latency p50/p95 of the first stage, the rerank of the candidates and the
whole search, the cgroup's peak usage (``memory.max_usage_in_bytes``), ``memory.stat``
cache/rss/mapped_file, ``memory.failcnt`` and the OOM-kill count, and the child's RssAnon /
RssFile at the end; then whether both runs returned the same top-10 ids for every query.

``--first-stage hnsw`` switches the reused index to the faiss HNSW first stage (committed to its
manifest), builds and saves the graph once in the parent, and has each child load it before it
drops pages and joins the cgroup: the graph is heap the process holds, the token store is what
the capped page cache serves.

Needs root and a writable cgroup v1 memory controller at /sys/fs/cgroup/memory.

    flock /tmp/cpu-heavy.lock python benchmarks/index_memory.py --work /tmp/index-memory
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup/memory")


def parse_bytes(text: str) -> int:
    """``"256M"``, ``"1G"``, ``"65536"`` -> bytes (binary units)."""
    units = {"K": 2**10, "M": 2**20, "G": 2**30}
    text = text.strip().upper().removesuffix("IB").removesuffix("B")
    if text and text[-1] in units:
        return int(float(text[:-1]) * units[text[-1]])
    return int(text)


# ---------------------------------------------------------------------------------------- child
def _status() -> dict[str, float]:
    out = {}
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(("VmRSS", "RssAnon", "RssFile", "VmHWM")):
                key, value = line.split(":")
                out[key] = int(value.split()[0]) / 1024
    return out


def _read_bytes() -> int:
    """Bytes this process caused to be read from the block device (``/proc/self/io`` read_bytes)."""
    with open("/proc/self/io") as fh:
        return int(next(line for line in fh if line.startswith("read_bytes")).split()[1])


def _resident_mib(files: list[Path]) -> float:
    """Page-cache residency of ``files`` in MiB, via util-linux ``fincore``."""
    out = subprocess.run(
        ["fincore", "--bytes", "--noheadings", "--raw", "--output", "RES", *map(str, files)],
        capture_output=True, text=True, check=True,
    )
    return sum(int(x) for x in out.stdout.split()) / 2**20


def _cgroup_stat(group: Path) -> dict[str, int]:
    stat = dict(line.split() for line in (group / "memory.stat").read_text().splitlines())
    return {k: int(stat[k]) for k in ("cache", "rss", "mapped_file")}


def child(args: argparse.Namespace) -> None:
    """Open the index, optionally drop its pages and join the cgroup, then time the searches."""
    group = Path(args.cgroup) if args.cgroup else None
    if group is not None and args.join == "early":
        (group / "cgroup.procs").write_text(str(os.getpid()))
    import numpy as np
    import torch

    sys.path.insert(0, str(Path(__file__).parent))
    from index_latency import _StubEncoder, time_queries

    from smart_plugins.encoder import EncodedTexts
    from smart_plugins.index import SmartIndex

    torch.set_num_threads(1)
    index = SmartIndex.open(args.index, _StubEncoder(args.dim), read_only=True, verify=False)
    queries = EncodedTexts(**torch.load(args.queries_file))
    report: dict = {}
    if index.info()["first_stage"]["kind"] == "hnsw":  # load the saved graph before the cap applies
        t0 = time.perf_counter()
        index.build_first_stage()
        report["graph_load_s"] = time.perf_counter() - t0
        report["status_graph_loaded"] = _status()
    files = sorted(p for p in Path(args.index).rglob("*") if p.is_file())
    report["resident_before_mib"] = _resident_mib(files)
    if args.drop:
        for path in files:
            fd = os.open(path, os.O_RDONLY)
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)
    report["resident_after_drop_mib"] = _resident_mib(files)
    if args.advice != "index":  # override what the index advised (it opens token maps MADV_RANDOM)
        import mmap

        advice = mmap.MADV_RANDOM if args.advice == "random" else mmap.MADV_NORMAL
        for segment in index._segments:
            for array in segment.token_arrays.values():
                array._mmap.madvise(advice)
    if group is not None and args.join == "late":
        (group / "cgroup.procs").write_text(str(os.getpid()))
    report["status_start"] = _status()
    read_start = _read_bytes()
    timed = time_queries(index, queries, args.candidates)
    first, rerank, total, top10 = timed["first"], timed["rerank"], timed["total"], timed["top10"]

    def pct(values: list[float], p: float) -> float:
        return float(np.percentile(np.array(values) * 1000, p))

    report.update(
        {
            "latency_ms": {
                name: {"p50": pct(v, 50), "p95": pct(v, 95)}
                for name, v in (("first", first), ("rerank", rerank), ("total", total))
            },
            "status_end": _status(),
            "read_mib_per_query": (_read_bytes() - read_start) / 2**20 / len(queries),
            "resident_end_mib": _resident_mib(files),
            "top10": top10,
        }
    )
    if group is not None:
        report["cgroup_stat_end"] = _cgroup_stat(group)
    Path(args.out).write_text(json.dumps(report))


# ---------------------------------------------------------------------------------------- parent
def make_cgroup(name: str, limit: int | None) -> Path:
    group = CGROUP_ROOT / name
    try:
        group.mkdir()
    except OSError as exc:
        sys.exit(
            f"index_memory: cannot create a memory cgroup at {group} ({exc}). This benchmark needs root and a "
            "writable cgroup v1 memory controller mounted at /sys/fs/cgroup/memory."
        )
    if limit is not None:
        (group / "memory.limit_in_bytes").write_text(str(limit))
    return group


def remove_cgroup(group: Path) -> None:
    """Move any leftover task to the parent group and remove ``group`` (charges go to the parent)."""
    if not group.exists():
        return
    for pid in (group / "cgroup.procs").read_text().split():
        try:
            (group.parent / "cgroup.procs").write_text(pid)
        except OSError:
            pass
    for _ in range(50):
        try:
            group.rmdir()
            return
        except OSError:
            time.sleep(0.1)
    print(f"warning: could not remove cgroup {group}", file=sys.stderr)


def run_child(args: argparse.Namespace, index: Path, qfile: Path, cap: int | None, label: str) -> dict:
    group = make_cgroup(f"smart-index-memory-{os.getpid()}-{label}", cap)
    out = Path(args.work) / f"result-{label}.json"
    out.unlink(missing_ok=True)
    proc = None
    try:
        cmd = [
            sys.executable, __file__, "--child", "--index", str(index), "--queries-file", str(qfile),
            "--dim", str(args.dim), "--candidates", str(args.candidates), "--out", str(out),
            "--cgroup", str(group), "--join", args.join, "--advice", args.advice,
        ]
        if cap is not None:
            cmd.append("--drop")
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd)
        rc = proc.wait()
        wall = time.perf_counter() - t0
        oom = dict(line.split() for line in (group / "memory.oom_control").read_text().splitlines())
        result = json.loads(out.read_text()) if rc == 0 and out.exists() else {}
        result.update(
            {
                "returncode": rc,
                "wall_s": wall,
                "max_usage": int((group / "memory.max_usage_in_bytes").read_text()),
                "failcnt": int((group / "memory.failcnt").read_text()),
                "oom_kill": int(oom.get("oom_kill", -1)),
                "limit": int((group / "memory.limit_in_bytes").read_text()),
            }
        )
        return result
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        remove_cgroup(group)


def build_or_reuse(args: argparse.Namespace) -> tuple[Path, Path]:
    """The index folder and a saved queries file, built once per (docs, dim, tokens, compression)."""
    import torch

    sys.path.insert(0, str(Path(__file__).parent))
    from index_latency import _StubEncoder, build, queries_from, synthetic, topic_directions

    from smart_plugins.index import SmartIndex
    from smart_plugins.index.smart_index import SEGMENT_DOCS

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    folder = work / f"index-{args.docs}-{args.dim}d-{args.avg_tokens}t-{args.compression}"
    qfile = work / f"queries-{args.docs}-{args.queries}.pt"
    if (folder / "manifest.json").exists():
        index = SmartIndex.open(folder, _StubEncoder(args.dim), read_only=True, verify=False)
        if len(index) != args.docs:
            sys.exit(f"index_memory: {folder} holds {len(index)} documents, not {args.docs}; remove it")
        print(f"reusing {folder}")
        topics = topic_directions(args.docs, args.dim)  # the same first chunk as index_latency.build
        first_chunk = synthetic(min(SEGMENT_DOCS, args.docs), args.dim, args.avg_tokens, seed=1, topics=topics)
    else:
        print(f"building {folder} ({args.docs} docs) ...", flush=True)
        t0 = time.perf_counter()
        index, _, first_chunk = build(folder, args.docs, args, "exact")
        print(f"  built in {time.perf_counter() - t0:.0f} s")
    index.close()
    queries = queries_from(first_chunk, args.queries, seed=7)
    torch.save({f: getattr(queries, f) for f in ("pooled", "tokens", "offsets", "token_ids", "positions")}, qfile)
    return folder, qfile


def prepare_first_stage(folder: Path, args: argparse.Namespace) -> None:
    """Commit ``--first-stage`` to the reused index; for HNSW, build and save its graph once."""
    sys.path.insert(0, str(Path(__file__).parent))
    from index_latency import _StubEncoder

    from smart_plugins.index import SmartIndex

    with SmartIndex.open(folder, _StubEncoder(args.dim), verify=False) as index:
        if index.info()["first_stage"]["kind"] != args.first_stage:
            index.set_first_stage(args.first_stage)
        t0 = time.perf_counter()
        graph = index.build_first_stage()
        if graph is not None:
            print(f"hnsw graph: {graph['vectors']} vectors, {graph['bytes'] / 2**20:.0f} MiB, "
                  f"ready in {time.perf_counter() - t0:.1f} s (built and saved, or loaded)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--avg-tokens", type=int, default=64)
    parser.add_argument("--compression", default="residual-4")
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--candidates", type=int, default=100)
    parser.add_argument("--cap", default="256M", help="memory.limit_in_bytes of the capped run (e.g. 256M, 1G)")
    parser.add_argument("--join", choices=("late", "early"), default="late",
                        help="child joins the cgroup after imports + index open (late) or at start (early)")
    parser.add_argument("--advice", choices=("index", "normal", "random"), default="index",
                        help="madvise of the token memory maps in the child: index (as SmartIndex opens them: "
                        "MADV_RANDOM), normal (force kernel read-around, the behaviour before that fix) or random")
    parser.add_argument("--work", default="/tmp/index-memory", help="folder for the (reused) index and results")
    parser.add_argument("--first-stage", choices=("exact", "hnsw"), default="exact",
                        help="hnsw: the parent builds and saves the graph once; each child loads it (into its "
                        "heap, before joining the cgroup) and searches with it")
    # child-only options
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--index", help=argparse.SUPPRESS)
    parser.add_argument("--queries-file", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--cgroup", help=argparse.SUPPRESS)
    parser.add_argument("--drop", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    cap = parse_bytes(args.cap)
    if not os.access(CGROUP_ROOT, os.W_OK):
        sys.exit(f"index_memory: {CGROUP_ROOT} is not writable (needs root and a cgroup v1 memory controller)")
    # fail early, before the (long) build, when no group can be created
    remove_cgroup(make_cgroup(f"smart-index-memory-{os.getpid()}-probe", cap))

    folder, qfile = build_or_reuse(args)
    prepare_first_stage(folder, args)
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    disk = sum(p.stat().st_size for p in files)
    token_bytes = sum(p.stat().st_size for p in files if p.name.startswith("tok_"))
    pooled_bytes = sum(p.stat().st_size for p in files if p.name == "pooled.npy")
    mib = 2**20
    print(f"index: {args.docs} docs, {disk / mib:.0f} MiB on disk (token files {token_bytes / mib:.0f} MiB, "
          f"pooled {pooled_bytes / mib:.0f} MiB), compression {args.compression}; cap {cap / mib:.0f} MiB "
          f"({token_bytes / cap:.1f}x smaller than the token files); {args.queries} queries, k=10, "
          f"candidates {args.candidates}, 1 torch thread, join {args.join}, token mmap advice {args.advice}, "
          f"first stage {args.first_stage}; "
          f"block-device read-ahead {Path('/sys/block/vda/queue/read_ahead_kb').read_text().strip() if Path('/sys/block/vda/queue/read_ahead_kb').exists() else '?'} KiB")
    print(f"load average before: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")

    for path in files:  # warm the page cache for the uncapped run
        with open(path, "rb") as fh:
            while fh.read(1 << 24):
                pass
    runs = {"uncapped": run_child(args, folder, qfile, None, "uncapped"),
            "capped": run_child(args, folder, qfile, cap, "capped")}
    print(f"load average after: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")

    rows = [("", "uncapped (warm cache)", f"capped {cap / mib:.0f} MiB (cold, fadvise DONTNEED)")]

    def row(name: str, fn) -> None:
        rows.append((name, *(fn(runs[k]) if runs[k].get("returncode") == 0 else "-" for k in ("uncapped", "capped"))))

    for stage, name in (("first", "first stage"), ("rerank", f"rerank top-{args.candidates}"), ("total", "search end to end")):
        row(f"{name} p50 / p95 ms", lambda r, s=stage: f"{r['latency_ms'][s]['p50']:.1f} / {r['latency_ms'][s]['p95']:.1f}")
    if args.first_stage == "hnsw":
        row("hnsw graph load s / child RssAnon after it (MiB)",
            lambda r: f"{r['graph_load_s']:.2f} / {r['status_graph_loaded']['RssAnon']:.0f}")
    row("index pages cached before / after drop (MiB)", lambda r: f"{r['resident_before_mib']:.0f} / {r['resident_after_drop_mib']:.0f}")
    row("disk reads during search, MiB per query", lambda r: f"{r['read_mib_per_query']:.1f}")
    row("index pages cached at end (MiB)", lambda r: f"{r['resident_end_mib']:.0f}")
    rows.append(("cgroup peak usage (MiB)", *(f"{runs[k]['max_usage'] / mib:.0f}" for k in ("uncapped", "capped"))))
    row("cgroup stat at end: cache / rss / mapped_file (MiB)",
        lambda r: "{cache:.0f} / {rss:.0f} / {mapped_file:.0f}".format(**{k: v / mib for k, v in r["cgroup_stat_end"].items()}))
    row("child RssAnon / RssFile at start of search (MiB)", lambda r: f"{r['status_start']['RssAnon']:.0f} / {r['status_start']['RssFile']:.0f}")
    row("child RssAnon / RssFile at end (MiB)", lambda r: f"{r['status_end']['RssAnon']:.0f} / {r['status_end']['RssFile']:.0f}")
    rows.append(("memory.failcnt / OOM kills / exit code",
                 *(f"{runs[k]['failcnt']} / {runs[k]['oom_kill']} / {runs[k]['returncode']}" for k in ("uncapped", "capped"))))
    rows.append(("child wall time (s)", *(f"{runs[k]['wall_s']:.0f}" for k in ("uncapped", "capped"))))
    width = max(len(r[0]) for r in rows)
    w1 = max(len(r[1]) for r in rows)
    for r in rows:
        print(f"  {r[0]:<{width}}  {r[1]:<{w1}}  {r[2]}")
    if all(runs[k].get("returncode") == 0 for k in runs):
        same = sum(a == b for a, b in zip(runs["uncapped"]["top10"], runs["capped"]["top10"]))
        n = len(runs["uncapped"]["top10"])
        print(f"top-10 ids identical with and without the cap: {same}/{n} queries -> {'YES' if same == n else 'NO'}")
        if same != n:
            sys.exit(1)
    else:
        print("a run failed (see exit code / OOM kills above); results not compared")
        sys.exit(1)


if __name__ == "__main__":
    main()
