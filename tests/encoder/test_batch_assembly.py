"""Batches back in input order: the device gather, the host path and the spill past the cap agree."""

from __future__ import annotations

import random

import pytest
import torch

from smart_plugins.encoder import batch_assembly
from smart_plugins.encoder.batch_assembly import BatchCollector, ForwardBatch
from smart_plugins.encoder.encoded import EncodedTexts


def _random_batches(seed: int, rows: int = 23, batch: int = 5, dim: int = 4) -> tuple[list[ForwardBatch], list[list[torch.Tensor]]]:
    gen = torch.Generator().manual_seed(seed)
    batches, per_row = [], []
    for start in range(0, rows, batch):
        n = min(batch, rows - start)
        counts = torch.randint(1, 7, (n,), generator=gen)
        total = int(counts.sum())
        b = ForwardBatch(
            pooled=torch.randn(n, 3, generator=gen),
            vectors=torch.randn(total, dim, generator=gen),
            token_ids=torch.randint(0, 100, (total,), generator=gen),
            positions=torch.randint(0, 50, (total,), generator=gen),
            counts=counts,
            lengths=counts + 2,
        )
        batches.append(b)
        per_row.extend(zip(b.pooled, *(t.split(counts.tolist()) for t in (b.vectors, b.token_ids, b.positions))))
    return batches, per_row


def _reference(per_row: list, order: list[int]) -> EncodedTexts:
    """Rows put back by hand: input ``order[j]`` is row ``j`` added."""
    by_input = [None] * len(order)
    for j, i in enumerate(order):
        by_input[i] = per_row[j]
    return EncodedTexts.from_lists(pooled=torch.stack([r[0] for r in by_input]), token_vectors=[r[1] for r in by_input],
                                   token_ids=[r[2] for r in by_input], positions=[r[3] for r in by_input])


def _assert_same(a: EncodedTexts, b: EncodedTexts) -> None:
    for name in ("pooled", "tokens", "offsets", "token_ids", "positions"):
        assert torch.equal(getattr(a, name), getattr(b, name)), name


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_host_path_and_device_gather_put_rows_back_in_input_order(seed: int) -> None:
    batches, per_row = _random_batches(seed)
    order = list(range(len(per_row)))
    random.Random(seed).shuffle(order)
    expected = _reference(per_row, order)
    collector = BatchCollector()
    for b in batches:
        collector.add(b)
    _assert_same(collector.assemble(order), expected)  # host path (CPU tensors)
    unsort = torch.empty(len(order), dtype=torch.int64)
    unsort[torch.tensor(order)] = torch.arange(len(order))
    _assert_same(batch_assembly._assemble_on_device(ForwardBatch.cat(batches), unsort), expected)  # the gather


def test_lengths_and_rows_follow_the_order_added() -> None:
    batches, per_row = _random_batches(3)
    collector = BatchCollector()
    for b in batches:
        collector.add(b)
    assert collector.lengths().tolist() == [int(c) + 2 for b in batches for c in b.counts]
    pooled, vectors, _, _ = collector.rows()
    assert torch.equal(pooled, torch.stack([r[0] for r in per_row]))
    assert all(torch.equal(v, r[1]) for v, r in zip(vectors, per_row))


needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@needs_cuda
@pytest.mark.parametrize("max_bytes", [None, 1])  # 1 byte: spills to the host after the first batch
def test_cuda_collector_matches_the_host_path(max_bytes: int | None) -> None:
    batches, per_row = _random_batches(4)
    order = list(reversed(range(len(per_row))))
    collector = BatchCollector(max_device_bytes=max_bytes)
    for b in batches:
        collector.add(ForwardBatch(*(t.cuda() for t in (b.pooled, b.vectors, b.token_ids, b.positions, b.counts, b.lengths))))
    encoded = collector.assemble(order)
    assert encoded.tokens.device.type == "cpu"
    _assert_same(encoded, _reference(per_row, order))


@needs_cuda
def test_cuda_encoder_matches_the_cpu_encoder(tiny_model_dir, monkeypatch) -> None:
    from smart_plugins.encoder import SmartEncoder

    texts = ["a short one", "package library files for debian " * 6, "python", "red green blue star moon apple"] * 5
    cpu = SmartEncoder(str(tiny_model_dir), device="cpu", batch_size=4).encode(texts)
    for cap in (batch_assembly.MAX_DEVICE_BYTES, 1):
        monkeypatch.setattr(batch_assembly, "MAX_DEVICE_BYTES", cap)
        gpu = SmartEncoder(str(tiny_model_dir), device="cuda", batch_size=4).encode(texts)
        assert torch.equal(gpu.offsets, cpu.offsets) and torch.equal(gpu.token_ids, cpu.token_ids)
        assert torch.equal(gpu.positions, cpu.positions)
        torch.testing.assert_close(gpu.tokens, cpu.tokens, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(gpu.pooled, cpu.pooled, atol=1e-5, rtol=1e-5)
