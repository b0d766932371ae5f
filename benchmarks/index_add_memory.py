"""Peak memory of one ``SmartIndex.add`` call over many short documents: streamed vs all at once.

For each corpus size a fresh child process builds the encoder, creates an empty index, resets
its peak-RSS counter (``/proc/self/clear_refs`` = 5, then ``VmHWM``), runs one write, and
reports the peak resident memory *above the RSS it had just before the call*. Two writes are
measured side by side, each in its own child:

* ``add``: ``index.add(texts)`` as it is now: each segment of ``SEGMENT_DOCS`` documents is
  encoded, then written, before the next is encoded (what the call holds is bounded by a
  segment, plus the codec's training sample);
* ``encode-all``: ``index.add_encoded(encoder.encode_documents(texts), texts)``: every
  document's token vectors are encoded before anything is written, which is what ``add`` did
  before it streamed (issue 12, item 3).

The encoder is a randomly initialised BERT with 384-dimensional tokens (MiniLM's token width)
and no transformer layer (embeddings and layer norm; ``BENCH_LAYERS=N`` adds N layers), built in
the child from its ``transformers`` config with a small WordPiece vocabulary: what is measured is
what the index holds per token, not the model's speed or quality (a real model's weights and
activations per batch add about the same constant to both rows). ``BENCH_THREADS`` sets torch's
threads (default 2). Documents are 8-14 words
(10-16 tokens). Compression is ``fp16`` (no codec training) unless ``--compression`` says
otherwise. Linux only (``/proc``).

    flock /tmp/cpu-heavy.lock python benchmarks/index_add_memory.py --docs 10000 50000 200000
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WORDS = (
    "the a of and to in is for with on package library files development debug documentation data python "
    "perl java rust shared runtime tool tools command line server client module red green blue star moon "
    "code marker labels label query document token tokens fast slow search index retrieval vector model text"
).split()

CHILD = r"""
import json, os, random, resource, sys, tempfile, time
from pathlib import Path
os.environ["HF_HUB_OFFLINE"] = "1"; os.environ["TRANSFORMERS_OFFLINE"] = "1"
import torch
torch.set_num_threads(int(os.environ.get("BENCH_THREADS", "2")))
from sentence_transformers import SentenceTransformer
from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer
from transformers import BertConfig, BertModel, BertTokenizerFast
from smart_plugins.encoder import SmartEncoder
from smart_plugins.index import SmartIndex
from smart_plugins.scoring import ScoreWeights

mode, n_docs, compression, work = sys.argv[1], int(sys.argv[2]), sys.argv[3], Path(sys.argv[4])
words = json.loads(sys.argv[5])

def kib(field):
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(field)

torch.manual_seed(0)
raw = work / "raw"
vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + words
tokenizer = BertTokenizerFast(vocab={t: i for i, t in enumerate(vocab)}, model_max_length=128)
config = BertConfig(vocab_size=len(vocab), hidden_size=384, num_hidden_layers=int(os.environ.get("BENCH_LAYERS", "0")), num_attention_heads=6,
                    intermediate_size=384, max_position_embeddings=128)
BertModel(config).save_pretrained(raw)
tokenizer.save_pretrained(raw)
st = SentenceTransformer(modules=[Transformer(str(raw), max_seq_length=128), Pooling(384, pooling_mode="mean"), Normalize()],
                         device="cpu")
st.save(str(work / "st"))
encoder = SmartEncoder(str(work / "st"), device="cpu", batch_size=256)
rng = random.Random(0)
texts = [" ".join(rng.choice(words) for _ in range(rng.randint(8, 14))) for _ in range(n_docs)]
index = SmartIndex.create(work / "idx", encoder, compression=compression, weights=ScoreWeights(1, 1))  # no label-free fit inside the measured adds
index.add(texts[:50])  # warm up: first-call allocations, codec training for trained codecs
texts = texts[50:]
open("/proc/self/clear_refs", "w").write("5")  # reset VmHWM to the current RSS
before = kib("VmRSS")
start = time.perf_counter()
if mode == "add":
    index.add(texts)
else:
    index.add_encoded(encoder.encode_documents(texts), texts)
seconds = time.perf_counter() - start
peak = kib("VmHWM")
info = index.info()
print(json.dumps({"mode": mode, "docs": len(texts) + 50, "tokens": info["tokens"], "rss_before_mib": before / 1024,
                  "peak_above_before_mib": (peak - before) / 1024, "seconds": seconds}))
"""


def run(mode: str, n_docs: int, compression: str) -> dict:
    with tempfile.TemporaryDirectory(prefix="add-memory-") as work:
        out = subprocess.run(
            [sys.executable, "-c", CHILD, mode, str(n_docs), compression, work, json.dumps(WORDS)],
            capture_output=True, text=True, check=False,
        )
    if out.returncode != 0:
        raise RuntimeError(f"{mode} {n_docs}: child failed\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--docs", type=int, nargs="+", default=[10_000, 50_000, 200_000])
    parser.add_argument("--modes", nargs="+", default=["add", "encode-all"], choices=["add", "encode-all"])
    parser.add_argument("--compression", default="fp16")
    parser.add_argument("--json", help="also write the rows to this file")
    args = parser.parse_args()
    from smart_plugins.index.smart_index import SEGMENT_DOCS

    print(f"SEGMENT_DOCS={SEGMENT_DOCS}, compression={args.compression}, 384-d tokens, 10-16 tokens per document")
    print(f"{'docs':>8} {'tokens':>10} {'mode':>11} {'peak above RSS before (MiB)':>28} {'seconds':>8}")
    rows = []
    for n in args.docs:
        for mode in args.modes:
            t0 = time.perf_counter()
            row = run(mode, n, args.compression)
            rows.append(row)
            print(f"{row['docs']:>8,} {row['tokens']:>10,} {mode:>11} {row['peak_above_before_mib']:>28.1f} "
                  f"{row['seconds']:>8.1f}   (child {time.perf_counter() - t0:.0f} s)", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
