"""Build the 6,000-document debian-synopsis subset used in docs/evaluation.md.

Keeps every document judged in test and in the first N train queries (file order), fills up with
random others (seed 0); queries unchanged; train qrels cut to those N queries.

    python benchmarks/make_synopsis_subset.py ../shared/datasets/debian-synopsis /tmp/debian-synopsis-6k
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
from pathlib import Path

from smart_plugins.evaluation.dataset import read_qrels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("src")
    parser.add_argument("dst")
    parser.add_argument("--docs", type=int, default=6000)
    parser.add_argument("--train-queries", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    src, dst = Path(args.src), Path(args.dst)
    (dst / "qrels").mkdir(parents=True, exist_ok=True)
    test, train = read_qrels(src / "qrels/test.tsv"), read_qrels(src / "qrels/train.tsv")
    order = [json.loads(line)["_id"] for line in open(src / "queries.jsonl")]
    train_first = [q for q in order if q in train][: args.train_queries]
    keep = {d for q in test for d in test[q]} | {d for q in train_first for d in train[q]}
    docs = [json.loads(line) for line in open(src / "corpus.jsonl")]
    others = [d["_id"] for d in docs if d["_id"] not in keep]
    random.Random(args.seed).shuffle(others)
    keep |= set(others[: max(0, args.docs - len(keep))])
    with open(dst / "corpus.jsonl", "w") as handle:
        for d in docs:
            if d["_id"] in keep:
                handle.write(json.dumps(d) + "\n")
    shutil.copy(src / "queries.jsonl", dst)
    shutil.copy(src / "qrels/test.tsv", dst / "qrels")
    with open(dst / "qrels/train.tsv", "w") as handle:
        handle.write("query-id\tcorpus-id\tscore\n")
        handle.writelines(f"{q}\t{d}\t{s}\n" for q in train_first for d, s in train[q].items())
    print(f"{len(keep)} documents written to {dst}")


if __name__ == "__main__":
    main()
