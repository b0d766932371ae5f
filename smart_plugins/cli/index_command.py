"""``smart-plugins index build|add|delete|compact|info`` and ``smart-plugins search``."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from smart_plugins.cli.corpus import already_indexed, corpus_documents, read_corpus, scan_corpus


#: ``smart_plugins.index.CODEC_NAMES`` and ``DEFAULT_COMPRESSION``, repeated so that registering the
#: command imports no torch (tests/cli/test_startup.py checks that they agree).
CODEC_NAMES = ("fp32", "fp16", "int8", "residual-4", "residual-2", "residual-1")
DEFAULT_COMPRESSION = "residual-4"


def register(subparsers: Any) -> None:
    """Add the ``index`` (with its sub-commands) and ``search`` commands."""
    index = subparsers.add_parser(
        "index",
        help="build and maintain a persistent SMART index",
        description="Build, grow and inspect a SMART index folder (pooled + compressed token vectors).",
    )
    actions = index.add_subparsers(dest="index_command", metavar="ACTION")

    build = actions.add_parser("build", help="create an index from a JSONL corpus")
    build.add_argument("dir", metavar="DIR", help="index folder to create")
    build.add_argument("--model", default="minilm", help="model name, local path or alias (default: minilm)")
    build.add_argument("--corpus", required=True, help="JSONL: one {\"_id\" or \"id\", \"text\", [\"title\"], ...} per line")
    build.add_argument("--compression", default=DEFAULT_COMPRESSION, choices=CODEC_NAMES,
                       help=f"token vector codec (default: {DEFAULT_COMPRESSION})")
    build.add_argument("--first-stage", default="exact", choices=("exact", "hnsw"),
                       help="pooled candidate search: exact matmul (default) or faiss HNSW")
    build.add_argument("--token-pool-factor", type=float, default=1.0, metavar="F",
                       help="keep about 1/F of each document's token vectors, merging similar ones (number >= 1; "
                            "default 1: no pooling; recorded in the index, so later adds use it)")
    build.add_argument("--weights", default=None,
                       help="default POOL:LATE weights stored in the index (default: fitted without labels on pseudo-queries "
                            "drawn from the documents, as SmartIndex.create does; see docs/evaluation.md)")
    build.add_argument("--device", help="cuda / cpu (default: GPU when present)")
    _add_backend(build, "torch")
    build.add_argument("--batch-size", type=int, default=32, help="encoding batch size (default: 32)")
    build.add_argument("--chunk", type=int, default=4096, help="documents committed per add (default: 4096)")
    build.add_argument("--limit", type=int, help="index only the first N documents")
    build.add_argument("--truncation", choices=("warn", "chunk"), default="warn",
                       help="texts longer than the model's limit: truncate with a warning (default) or index "
                            "every token in overlapping windows (chunk)")
    _add_lock_timeout(build)
    add_store_arguments(build)
    build.set_defaults(func=run_build)

    add = actions.add_parser("add", help="add (or with --upsert replace) documents from a JSONL corpus")
    add.add_argument("dir", metavar="DIR")
    add.add_argument("--corpus", required=True, help="JSONL corpus (same format as build)")
    add.add_argument("--upsert", action="store_true", help="replace documents whose id is already indexed")
    add.add_argument("--device", help="cuda / cpu")
    _add_backend(add, None)
    add.add_argument("--batch-size", type=int, default=32)
    add.add_argument("--chunk", type=int, default=4096, help="documents committed per add (default: 4096)")
    add.add_argument("--truncation", choices=("warn", "chunk"), default="warn",
                     help="texts longer than the model's limit: truncate with a warning (default) or keep every token (chunk)")
    _add_lock_timeout(add)
    add.set_defaults(func=run_add)

    delete = actions.add_parser("delete", help="delete documents by id")
    delete.add_argument("dir", metavar="DIR")
    delete.add_argument("ids", nargs="*", metavar="ID", help="ids to delete")
    delete.add_argument("--ids-file", help="file with one id per line")
    _add_lock_timeout(delete)
    delete.set_defaults(func=run_delete)

    compact = actions.add_parser(
        "compact", help="rewrite segments holding deleted documents without them (reclaims disk)"
    )
    compact.add_argument("dir", metavar="DIR")
    compact.add_argument("--min-deleted-share", type=float, default=0.0, metavar="X",
                         help="only rewrite segments whose share of deleted rows is at least X in [0, 1] "
                              "(default 0: every segment with a deleted row)")
    compact.add_argument("--json", action="store_true", help="print the summary as JSON")
    _add_lock_timeout(compact)
    compact.set_defaults(func=run_compact)

    info = actions.add_parser("info", help="documents, tokens, bytes/token, compression, model")
    info.add_argument("dir", metavar="DIR")
    info.add_argument("--json", action="store_true", help="print the full info as JSON")
    info.set_defaults(func=run_info)

    register_export(actions)

    search = subparsers.add_parser(
        "search", help="search a SMART index", description="Two-stage SMART search of an index folder."
    )
    search.add_argument("dir", metavar="DIR", help="index folder")
    search.add_argument("query", nargs="+", help="query text (several queries: several arguments)")
    search.add_argument("-k", type=int, default=10, help="hits per query (default: 10)")
    search.add_argument("--candidates", type=int, default=100, help="first-stage candidates reranked (default: 100)")
    search.add_argument("--weights", help="POOL:LATE weights for this search (default: the index's)")
    search.add_argument("--where", action="append", default=[], metavar="KEY=VALUE",
                        help="metadata filter (repeatable; VALUE parsed as JSON when possible)")
    search.add_argument("--exhaustive", action="store_true", help="score every document (no first stage)")
    search.add_argument("--explain", action="store_true", help="show each query token's best document token")
    search.add_argument("--heatmap", metavar="DIR", help="with --explain: save a PNG per image hit of the patches the query matched")
    search.add_argument("--html", metavar="FILE", help="write a static HTML page of the evidence (implies --explain)")
    search.add_argument("--json", action="store_true", help="print hits as JSON")
    search.add_argument("--device", help="cuda / cpu")
    _add_backend(search, None)
    search.set_defaults(func=run_search)
    index.set_defaults(func=lambda args: _usage(index))


#: ``SmartEncoder(backend=...)`` names (smart_plugins.encoder.onnx_backend.BACKEND_NAMES; spelled out here so
#: building the parser imports no torch).
BACKEND_CHOICES = ("torch", "onnx", "onnx-int8", "openvino")


def _add_backend(parser: argparse.ArgumentParser, default: str | None) -> None:
    parser.add_argument("--backend", choices=BACKEND_CHOICES, default=default,
                        help="how the model runs: torch, or on the CPU onnx / onnx-int8 / openvino (needs smart-plugins[onnx]; "
                             + ("default torch)" if default else "default: the one the index was built with)"))
    add_autocast(parser, building=default is not None)


#: ``SmartEncoder(autocast=...)`` names (smart_plugins.encoder.precision.AUTOCAST_DTYPES).
AUTOCAST_CHOICES = ("bfloat16", "float16")


def add_autocast(parser: argparse.ArgumentParser, building: bool = True) -> None:
    """``--autocast``: mixed-precision encoding (torch backend)."""
    parser.add_argument("--autocast", choices=AUTOCAST_CHOICES, default=None,
                        help="torch backend: matrix products in this dtype, weights float32 (bfloat16: ~2.4x faster on CPUs "
                             "with AMX / AVX512-BF16, slower on others; " + ("recorded with the vectors: index, encoding cache)" if building else
                             "default: what the index was built with)"))


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def _chunks(rows: Iterator[tuple[str, str, dict[str, Any]]], size: int) -> Iterator[list[tuple[str, str, dict[str, Any]]]]:
    if size <= 0:
        raise ValueError(f"--chunk must be positive, got {size}")
    chunk: list[tuple[str, str, dict[str, Any]]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _ingest(index: Any, corpus: str, chunk: int, limit: int | None, upsert: bool) -> int:
    from smart_plugins.progress import progress

    total = 0
    with _cli_warnings(), progress("Indexing", unit="doc") as bar:
        for rows in _chunks(read_corpus(corpus, limit), chunk):
            ids, texts, metas = (list(x) for x in zip(*rows))
            if getattr(index.encoder, "family", "text") != "text":  # rows with an 'image' path become image documents
                texts = corpus_documents(texts, metas, Path(corpus).parent)
            (index.upsert if upsert else index.add)(texts, ids=ids, metadata=metas)
            total += len(rows)
            bar.update(len(rows))
    return total


@contextmanager
def _cli_warnings() -> Iterator[None]:
    """Show library warnings with the CLI's spelling of their advice (``--truncation chunk``)."""
    with warnings.catch_warnings():
        warnings.simplefilter("default")

        def show(message: Any, category: Any, filename: str, lineno: int, file: Any = None, line: Any = None) -> None:
            text = str(message).replace("pass truncation='chunk'", "pass --truncation chunk")
            print(f"smart-plugins: warning: {text}", file=sys.stderr)

        warnings.showwarning = show
        yield


def run_build(args: argparse.Namespace) -> int:
    from smart_plugins.encoder import SmartEncoder
    from smart_plugins.index import SmartIndex
    from smart_plugins.index.manifest import MANIFEST_NAME
    from smart_plugins.index.qdrant_store import holds_record
    from smart_plugins.scoring import ScoreWeights

    target = Path(args.dir)
    if (target / MANIFEST_NAME).exists() or holds_record(target):
        raise FileExistsError(f"an index already exists at {target}; use 'smart-plugins index add' to grow it")
    scan_corpus(args.corpus, args.limit).check_unique(args.corpus)  # every row checked before anything is created
    weights = ScoreWeights.parse(args.weights) if args.weights is not None else None
    encoder = SmartEncoder(args.model, device=args.device, batch_size=args.batch_size, truncation=args.truncation,
                           backend=args.backend, autocast=args.autocast)
    existed = target.exists()
    try:
        with SmartIndex.create(
            target, encoder, compression=args.compression, weights=weights, first_stage=args.first_stage,
            lock_timeout=args.lock_timeout, token_pool_factor=args.token_pool_factor, **store_keywords(args),
        ) as index:
            n = _ingest(index, args.corpus, args.chunk, args.limit, upsert=False)
            index.build_first_stage()
            print(f"indexed {n} documents into {args.dir} ({index.compression})")
            _print_info(index.info())
    except BaseException:
        _remove_failed_build(target, existed)
        raise
    return 0


def _remove_failed_build(target: Path, existed: bool) -> None:
    """Remove what a failed ``index build`` created, so the same command can simply be run again."""
    from smart_plugins.index.manifest import MANIFEST_NAME
    from smart_plugins.index.qdrant_store import holds_record

    if not (target / MANIFEST_NAME).exists() and not holds_record(target):
        return  # SmartIndex.create refused the folder: nothing of ours is in it
    if existed:  # an empty folder given by the user: empty it again, keep the folder
        for child in target.iterdir():
            shutil.rmtree(child) if child.is_dir() else child.unlink()
    else:
        shutil.rmtree(target, ignore_errors=True)
    print(f"smart-plugins index build: removed the incomplete index at {target}", file=sys.stderr)


def run_add(args: argparse.Namespace) -> int:
    from smart_plugins.index import SmartIndex

    scan = scan_corpus(args.corpus)  # bad rows and repeated ids are reported before the model loads
    scan.check_unique(args.corpus)
    if not args.upsert:
        with SmartIndex.open(args.dir, None, read_only=True) as current:
            taken = already_indexed(current, [doc_id for doc_id, _, _ in read_corpus(args.corpus)])
        if taken:
            raise ValueError(taken)
    with _open(args.dir, args.device, args.batch_size, truncation=args.truncation, lock_timeout=args.lock_timeout,
               backend=args.backend, autocast=args.autocast) as index:
        n = _ingest(index, args.corpus, args.chunk, None, upsert=args.upsert)
        index.build_first_stage()
        print(f"{'upserted' if args.upsert else 'added'} {n} documents; the index holds {len(index)}")
    return 0


def run_delete(args: argparse.Namespace) -> int:
    from smart_plugins.index import SmartIndex

    ids = list(args.ids)
    if args.ids_file:
        ids += [line.strip() for line in Path(args.ids_file).read_text().splitlines() if line.strip()]
    if not ids:
        raise ValueError("give ids to delete (arguments or --ids-file)")
    with SmartIndex.open(args.dir, None, lock_timeout=args.lock_timeout) as index:
        n = index.delete(ids)
        print(f"deleted {n} documents; the index holds {len(index)}")
    return 0


def run_compact(args: argparse.Namespace) -> int:
    from smart_plugins.index import SmartIndex

    with SmartIndex.open(args.dir, None, lock_timeout=args.lock_timeout) as index:
        summary = index.compact(min_deleted_share=args.min_deleted_share)
        if summary.get("committed", True):  # rewritten segments: the HNSW graph covers them again (no faiss otherwise)
            index.build_first_stage()
    if args.json:
        print(json.dumps(summary, indent=2))
    elif "segments_rewritten" not in summary:  # a Qdrant store: its optimizers ran instead
        print(f"optimized: {summary['optimized']}; {summary['documents']} documents")
    elif not summary["committed"]:
        print(f"nothing to compact: no segment reaches a deleted share of {args.min_deleted_share:g} "
              f"(version {summary['version']} unchanged)")
    else:
        saved = summary["bytes_before"] - summary["bytes_after"]
        print(f"compacted {summary['segments_rewritten']} of {summary['segments']} segments: dropped "
              f"{summary['documents_dropped']} deleted documents ({summary['tokens_dropped']} tokens); "
              f"disk {summary['bytes_before'] / 2**20:.2f} -> {summary['bytes_after'] / 2**20:.2f} MiB "
              f"({saved / 2**20:.2f} MiB freed); version {summary['version']}, {summary['documents']} documents")
    return 0


def run_info(args: argparse.Namespace) -> int:
    from smart_plugins.index import SmartIndex

    with SmartIndex.open(args.dir, None, read_only=True) as index:
        info = index.info()
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        _print_info(info)
    return 0


def run_search(args: argparse.Namespace) -> int:
    from smart_plugins.scoring import ScoreWeights

    where = dict(_parse_where(item) for item in args.where) or None
    weights = ScoreWeights.parse(args.weights) if args.weights else None
    # writable when the user may write the folder, so an HNSW graph built here is saved for later searches
    with _open(args.dir, args.device, 32, read_only=not os.access(args.dir, os.W_OK), backend=args.backend,
               autocast=args.autocast) as index:
        results = index.search(
            args.query, k=args.k, candidates=args.candidates, weights=weights, where=where, exhaustive=args.exhaustive
        )
        out = []
        pages: list[tuple[Any, list[Any]]] = []
        for number, (query, hits) in enumerate(zip(args.query, results)):
            rows, page = [], []
            pages.append((query, page))
            for hit in hits:
                row = {"rank": hit.rank, "id": hit.id, "score": hit.score, "pooled": hit.pooled, "late": hit.late,
                       "text": hit.text, "metadata": hit.metadata}
                if args.explain or args.html:
                    evidence = index.explain(query, hit.id, weights=weights)
                    heatmaps = evidence_heatmap(index, query, hit, number, args.heatmap or (args.html and args.html + ".files"))
                    page.append((hit, evidence, heatmaps))
                    if heatmaps:  # "heatmap": the first image's; "heatmaps": one per image of the document
                        row["heatmap"], row["heatmaps"] = str(heatmaps[0]), [str(h) for h in heatmaps]
                    row["evidence"] = [
                        {"query_token": m.query_token, "doc_token": m.doc_token, "similarity": round(m.similarity, 4),
                         "query_position": m.query_position, "doc_position": m.doc_position, "doc_span": m.doc_span}
                        for m in evidence.matches
                    ]
                rows.append(row)
            out.append({"query": query, "hits": rows})
        if args.html:
            from smart_plugins.index.evidence_html import write_evidence_html

            write_evidence_html(args.html, pages)
    if args.json:
        print(json.dumps(out if len(out) > 1 else out[0], indent=2, ensure_ascii=False))
        return 0
    for block in out:
        if len(out) > 1:
            print(f"# {block['query']}")
        for row in block["hits"]:
            late = "-" if row["late"] is None else f"{row['late']:.4f}"
            text = row["text"].replace("\n", " ")
            print(f"{row['rank']:>3}. {row['score']:.4f} (pooled {row['pooled']:.4f}, late {late})  {row['id']}  {text[:80]}")
            for m in row.get("evidence", []):
                print(f"       {m['query_token']:>15} -> {m['doc_token']:<15} {m['similarity']:.3f}")
    return 0


def evidence_heatmap(index: Any, query: str, hit: Any, number: int, folder: str | None) -> list[Path]:
    """Save the heatmap PNGs of an image hit under ``folder``, one per image (none for text hits or without a folder)."""
    if not folder or not hit.metadata.get("image"):
        return []
    from smart_plugins.index.heatmap import explain_heatmaps

    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in hit.id)[:80]
    return explain_heatmaps(index, query, hit.id, Path(folder) / f"q{number}-{hit.rank:03d}-{safe}.png")


def _parse_where(item: str) -> tuple[str, Any]:
    if "=" not in item:
        raise ValueError(f"--where must look like KEY=VALUE, got {item!r}")
    key, raw = item.split("=", 1)
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return key, value


def _open(
    folder: str, device: str | None, batch_size: int, read_only: bool = False, truncation: str = "warn",
    backend: str | None = None, autocast: str | None = None, **options: Any
) -> Any:
    """Open an index with its recorded encoder, rebuilt on ``device`` with ``batch_size`` and ``truncation``
    (``backend`` / ``autocast``: None = as recorded); ``options`` go to :meth:`SmartIndex.open` (``lock_timeout``)."""
    from smart_plugins.index import SmartIndex
    from smart_plugins.index.encoder_config import rebuild_encoder
    from smart_plugins.index.smart_index import recorded_encoder

    recorded = recorded_encoder(folder)
    backend = backend or str(recorded.get("backend", "torch"))  # an int8-built index records its backend
    encoder = rebuild_encoder(recorded, device=device, batch_size=batch_size, truncation=truncation, backend=backend,
                              autocast=autocast)
    return SmartIndex.open(folder, encoder, read_only=read_only, **options)


def _add_lock_timeout(parser: argparse.ArgumentParser) -> None:
    from smart_plugins.index.locking import DEFAULT_LOCK_TIMEOUT

    parser.add_argument("--lock-timeout", type=_seconds, default=DEFAULT_LOCK_TIMEOUT, metavar="SECONDS",
                        help=f"give up after waiting this long for another writer of the index "
                             f"(default {DEFAULT_LOCK_TIMEOUT:g}; 'none' waits forever)")


def _seconds(text: str) -> float | None:
    if text.strip().lower() in ("none", "inf", "forever"):
        return None
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds or 'none', got {text!r}") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"expected a number of seconds >= 0, got {text!r}")
    return value


def describe_weights_source(source: dict[str, Any] | None) -> str:
    """Where an index's default weights come from, in one line.

    Examples
    --------
    >>> describe_weights_source({"kind": "auto", "documents": 900, "queries": 256, "late_share": 0.5973,
    ...                          "fitted_share": 1.0, "prose_share": 0.1946})
    'fitted without labels on 256 pseudo-queries from 900 documents: late share 0.5973 (span fit 1, prose share 0.1946)'
    >>> describe_weights_source({"kind": "auto", "documents": 0})
    'fitted without labels once the index holds 32 documents (1:1 until then)'
    """
    source = source or {}
    if source.get("kind") != "auto":  # the stores report {"kind": "explicit"} for anything not fitted
        return "set explicitly"
    if "late_share" not in source:
        if source.get("fitted") is False:
            return f"not fitted: too few documents long enough to draw pseudo-queries from ({source.get('documents')} live); kept"
        from smart_plugins.index.default_weights import MIN_DOCUMENTS

        return f"fitted without labels once the index holds {MIN_DOCUMENTS} documents (1:1 until then)"
    detail = f" (span fit {source['fitted_share']:g}, prose share {source['prose_share']:g})" if "prose_share" in source else ""
    return (f"fitted without labels on {source.get('queries')} pseudo-queries from {source.get('documents')} documents: "
            f"late share {source['late_share']:g}{detail}")


def _print_info(info: dict[str, Any]) -> None:
    if info.get("store", "local") != "local":
        print_store_info(info)
        return
    ratio = info["token_bytes_per_token"] / info["fp32_bytes_per_token"]
    print(f"index       {info['path']} (version {info['version']})")
    print(f"model       {info['model']} (pooled {info['encoder']['pooled_dim']}-d, tokens {info['encoder']['token_dim']}-d)")
    print(f"documents   {info['documents']} ({info['deleted_documents']} deleted rows, {info['segments']} segments)")
    pooling = f" (pooled, factor {info['token_pool_factor']:g})" if info.get("token_pool_factor", 1.0) != 1.0 else ""
    print(f"tokens      {info['tokens']}{pooling}")
    print(f"compression {info['compression']}: {info['token_bytes_per_token']:.1f} bytes/token ({ratio:.1%} of fp32)")
    print(f"disk        {info['disk_bytes'] / 2**20:.1f} MiB")
    print(f"weights     pool {info['weights']['pool']} : late {info['weights']['late']}; first stage {info['first_stage']['kind']}")
    print(f"            {describe_weights_source(info.get('weights_source'))}")
    graph = info.get("hnsw_graph")
    if graph and "error" not in graph:
        print(f"hnsw graph  {graph['vectors']:,} vectors over {graph['segments']} segment(s), "
              f"{graph['bytes'] / 2**20:.1f} MiB (saved; later segments are added at the next search)")
    elif graph:
        print(f"hnsw graph  {graph['error']}")
    elif info["first_stage"]["kind"] == "hnsw":
        print("hnsw graph  not built yet (built and saved at the first search)")


# ---------------------------------------------------------------- Qdrant stores (issue 14)
def add_store_arguments(parser: argparse.ArgumentParser) -> None:
    """``--store`` and the Qdrant options of ``index build``."""
    group = parser.add_argument_group("store (default: this folder's own segments)")
    group.add_argument("--store", default="local", choices=("local", "qdrant-edge", "qdrant"),
                       help="local folder (default), Qdrant Edge in DIR, or a Qdrant server collection")
    group.add_argument("--url", help="--store qdrant: the server URL (http(s)://host:6333)")
    group.add_argument("--collection", help="--store qdrant: the collection to create")
    group.add_argument("--token-dtype", default="float16", choices=("float16", "float32"),
                       help="Qdrant token storage (default: float16)")
    group.add_argument("--quantization", choices=("int8", "binary", "turbo4"),
                       help="Qdrant quantisation of the tokens (searched with oversampling, rescored)")


def store_keywords(args: argparse.Namespace) -> dict[str, Any]:
    """``SmartIndex.create`` keywords for the chosen store (none for the local one)."""
    qdrant_only = {"--url": args.url, "--collection": args.collection, "--quantization": args.quantization}
    if args.store == "local":
        given = [name for name, value in qdrant_only.items() if value is not None]
        if given or args.token_dtype != "float16":
            raise ValueError(f"{', '.join(given) or '--token-dtype'} apply to --store qdrant-edge / qdrant only")
        return {}
    options: dict[str, Any] = {"token_dtype": args.token_dtype, "quantization": args.quantization}
    if args.store == "qdrant":
        if not args.url or not args.collection:
            raise ValueError("--store qdrant needs --url URL and --collection NAME")
        options.update(url=args.url, collection=args.collection)
    elif args.url or args.collection:
        raise ValueError("--url / --collection are for --store qdrant; Qdrant Edge lives inside DIR")
    return {"store": args.store, "store_options": options}


def print_store_info(info: dict[str, Any]) -> None:
    """``index info`` for a Qdrant-backed index."""
    where = f"{info['collection']} at {info['url']}" if info["store"] == "qdrant" else f"{info['path']}/shard"
    print(f"index       {info['path']} ({info['store']}: {where}; version {info['version']})")
    print(f"model       {info['model']} (pooled {info['encoder']['pooled_dim']}-d, tokens {info['encoder']['token_dim']}-d)")
    print(f"documents   {info['documents']}")
    print(f"tokens      {info['tokens']}")
    print(f"storage     {info['compression']}")
    if info.get("disk_bytes") is not None:
        per_token = info.get("bytes_per_token")
        tail = f" ({per_token:.1f} bytes/token, whole store)" if per_token else ""
        print(f"disk        {info['disk_bytes'] / 2**20:.1f} MiB{tail}")
    print(f"weights     pool {info['weights']['pool']} : late {info['weights']['late']}")
    print(f"            {describe_weights_source(info.get('weights_source'))}")


def register_export(actions: Any) -> None:
    """``index export DIR --to-qdrant (PATH | URL)``."""
    export = actions.add_parser("export", help="copy a local index into Qdrant (no re-encoding)")
    export.add_argument("dir", metavar="DIR", help="the local index folder to copy")
    export.add_argument("--to-qdrant", required=True, metavar="PATH|URL",
                        help="a new folder for a Qdrant Edge index, or a server URL (with --collection)")
    export.add_argument("--collection", help="with a URL: the collection to create")
    export.add_argument("--record", metavar="DIR2",
                        help="with a URL: the folder recording the collection (default: DIR-qdrant-COLLECTION)")
    export.add_argument("--token-dtype", default="float16", choices=("float16", "float32"))
    export.add_argument("--quantization", choices=("int8", "binary", "turbo4"))
    export.add_argument("--chunk", type=int, default=4096, help="documents per Qdrant write (default: 4096)")
    export.set_defaults(func=run_export)


def run_export(args: argparse.Namespace) -> int:
    from smart_plugins.index import SmartIndex
    from smart_plugins.index.export import export_to_qdrant

    target = args.to_qdrant
    server = target.startswith(("http://", "https://"))
    if server and not args.collection:
        raise ValueError("--to-qdrant URL needs --collection NAME")
    if not server and (args.collection or args.record):
        raise ValueError("--collection / --record are for a server URL; --to-qdrant PATH makes a Qdrant Edge index")
    options = {"token_dtype": args.token_dtype, "quantization": args.quantization}
    with SmartIndex.open(args.dir, None, read_only=True) as source:
        folder = (args.record or f"{args.dir.rstrip('/')}-qdrant-{args.collection}") if server else target
        with export_to_qdrant(
            source, folder, url=target if server else None, collection=args.collection, chunk=args.chunk, **options
        ) as copy:
            print(f"exported {len(copy)} documents from {args.dir} to {copy.info()['store']} "
                  f"({target if server else copy.path}); open it with: smart-plugins search {copy.path} QUERY")
    return 0


if __name__ == "__main__":  # pragma: no cover
    from smart_plugins.cli.main import main

    sys.exit(main(["index", *sys.argv[1:]]))
