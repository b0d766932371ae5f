"""Cost of keeping token states: SmartEncoder.encode vs plain SentenceTransformer.encode.

Both encode the same real passages with the same model, batch size and device, in alternating
rounds within one process (so machine load affects both alike); the ratio of median wall times
is the overhead of returning pooled + packed, normalised token vectors (goal <= 1.05).

Run:  python benchmarks/encode_overhead.py --corpus ../shared/datasets/debian-synopsis/corpus.jsonl
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from smart_plugins import SmartEncoder


def load_passages(path: Path, limit: int) -> list[str]:
    passages = []
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            text = " ".join(part for part in (row.get("title", ""), row.get("text", "")) if part).strip()
            if text:
                passages.append(text)
            if len(passages) == limit:
                break
    if len(passages) < limit:
        raise SystemExit(f"{path} has only {len(passages)} non-empty passages, {limit} requested")
    return passages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, required=True, help="BEIR corpus.jsonl (title + text)")
    parser.add_argument("--model", default="minilm")
    parser.add_argument("--passages", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    passages = load_passages(args.corpus, args.passages)
    encoder = SmartEncoder(args.model, batch_size=args.batch_size)
    model = encoder.model
    print(f"{len(passages)} passages from {args.corpus}, model {args.model} on {encoder.device}, "
          f"batch {args.batch_size}, torch {torch.get_num_threads()} threads")

    def plain() -> None:
        model.encode(passages, batch_size=args.batch_size, convert_to_tensor=True)

    def smart() -> None:
        encoder.encode(passages, show_progress_bar=False)

    plain_times, smart_times = [], []
    for round_index in range(args.rounds):
        for label, fn, sink in (("plain", plain, plain_times), ("smart", smart, smart_times)):
            start = time.perf_counter()
            fn()
            sink.append(time.perf_counter() - start)
            print(f"  round {round_index + 1}: {label:<5} {sink[-1]:7.2f} s")
    enc = encoder.encode(passages[:200], show_progress_bar=False)
    reference = model.encode(passages[:200], convert_to_tensor=True)
    plain_s, smart_s = statistics.median(plain_times), statistics.median(smart_times)
    tokens = encoder.encode(passages, show_progress_bar=False).tokens.shape[0]
    print(f"SentenceTransformer.encode  median {plain_s:.2f} s ({len(passages) / plain_s:.1f} passages/s)")
    print(f"SmartEncoder.encode         median {smart_s:.2f} s ({len(passages) / smart_s:.1f} passages/s)")
    print(f"overhead ratio smart/plain: {smart_s / plain_s:.3f}  (goal <= 1.05)")
    print(f"pooled max |diff| vs encode: {float((enc.pooled - reference).abs().max()):.1e}; "
          f"{tokens} token vectors kept ({tokens / len(passages):.0f}/passage, {tokens * encoder.token_dim * 4 / 2**20:.0f} MiB fp32)")


if __name__ == "__main__":
    main()
