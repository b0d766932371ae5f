"""Gathering forward-pass batches into one :class:`EncodedTexts`, in the order the inputs were given.

The encoder runs batches in its own order (texts sorted by length, media grouped by visual-token
cost), each keeping a different number of token vectors per row. On a GPU the kept vectors of a
fast model are most of the work left after the forward pass: copying every batch to the host, then
copying every row again into the final packed tensor, cost MiniLM half its GPU throughput. So a
:class:`BatchCollector` keeps the batches on the model's device (up to a memory cap), reorders the
rows there with one gather, and copies each packed field to the host once. Batches past the cap,
and everything on a CPU, take the host path: each row is a view, and one ``torch.cat`` per field
writes the final tensor.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import torch
from torch import Tensor

from smart_plugins.encoder.encoded import EncodedTexts

#: Most bytes of kept token vectors held on an accelerator before the batches move to the host.
MAX_DEVICE_BYTES = 2 * 1024**3


def inverse_order(order: list[int]) -> Tensor:
    """The permutation that puts rows produced in ``order`` (row ``j`` was input ``order[j]``) back in input order.

    Examples
    --------
    >>> inverse_order([2, 0, 1]).tolist()
    [1, 2, 0]
    """
    unsort = torch.empty(len(order), dtype=torch.int64)
    unsort[torch.tensor(order, dtype=torch.int64)] = torch.arange(len(order))
    return unsort


@dataclass(frozen=True)
class ForwardBatch:
    """One forward pass's output, packed: the rows' pooled vectors and their kept token vectors.

    Attributes
    ----------
    pooled:
        ``(B, P)`` float32 pooled embeddings.
    vectors:
        ``(K, D)`` float32 kept token vectors of all ``B`` rows, row after row.
    token_ids, positions:
        ``(K,)`` int64 vocabulary id and position in its row's input of each kept token.
    counts:
        ``(B,)`` int64 kept tokens per row.
    lengths:
        ``(B,)`` int64 input length of each row (attention mask sum).

    Examples
    --------
    >>> import torch
    >>> batch = ForwardBatch(pooled=torch.eye(2), vectors=torch.ones(3, 4), token_ids=torch.arange(3),
    ...                      positions=torch.tensor([1, 2, 1]), counts=torch.tensor([2, 1]), lengths=torch.tensor([4, 3]))
    >>> [v.shape[0] for v in batch.rows()[1]], batch.nbytes
    ([2, 1], 48)
    """

    pooled: Tensor
    vectors: Tensor
    token_ids: Tensor
    positions: Tensor
    counts: Tensor
    lengths: Tensor

    @property
    def nbytes(self) -> int:
        """Bytes of the kept token vectors (the part that grows with the text)."""
        return self.vectors.numel() * self.vectors.element_size()

    def to_host(self) -> ForwardBatch:
        """The same batch on the CPU."""
        return ForwardBatch(*(getattr(self, f.name).cpu() for f in fields(self)))

    def rows(self) -> tuple[Tensor, list[Tensor], list[Tensor], list[Tensor], Tensor]:
        """``(pooled, vectors per row, ids per row, positions per row, lengths)``, on the host."""
        host = self.to_host()
        counts = host.counts.tolist()
        return (host.pooled, list(host.vectors.split(counts)), list(host.token_ids.split(counts)),
                list(host.positions.split(counts)), host.lengths)

    @staticmethod
    def cat(batches: list[ForwardBatch]) -> ForwardBatch:
        """The batches as one, rows in the order given (on their device)."""
        return ForwardBatch(*(torch.cat([getattr(b, f.name) for b in batches]) for f in fields(ForwardBatch)))


class BatchCollector:
    """Collect :class:`ForwardBatch` es, then return their rows in input order as :class:`EncodedTexts`.

    Parameters
    ----------
    max_device_bytes:
        Most bytes of token vectors kept on an accelerator; past it, every batch so far and every
        later one moves to the host. ``None``: :data:`MAX_DEVICE_BYTES`, or a quarter of the free
        memory of a CUDA device if that is less.

    Examples
    --------
    >>> import torch
    >>> collector = BatchCollector()
    >>> collector.add(ForwardBatch(torch.eye(2), torch.arange(6.0).reshape(3, 2), torch.arange(3),
    ...                            torch.arange(3), torch.tensor([2, 1]), torch.tensor([4, 3])))
    >>> encoded = collector.assemble([1, 0])  # the batch held input rows 1 then 0
    >>> encoded.lengths.tolist(), encoded.tokens[:, 0].tolist()
    ([1, 2], [4.0, 0.0, 2.0])
    """

    def __init__(self, max_device_bytes: int | None = None) -> None:
        self._batches: list[ForwardBatch] = []
        self._bytes = 0
        self._on_host = False
        self._max_device_bytes = max_device_bytes

    def add(self, batch: ForwardBatch) -> None:
        """Keep one batch (its rows follow the rows added before it)."""
        if batch.vectors.device.type == "cpu" or self._on_host:
            self._batches.append(batch.to_host())
            return
        self._bytes += batch.nbytes
        self._batches.append(batch)
        if self._bytes > self._device_budget(batch.vectors.device):
            self._batches = [b.to_host() for b in self._batches]
            self._on_host = True

    def lengths(self) -> Tensor:
        """Input length of every row so far, in the order added (host, int64)."""
        return torch.cat([b.lengths for b in self._batches]).cpu() if self._batches else torch.zeros(0, dtype=torch.int64)

    def rows(self) -> tuple[Tensor, list[Tensor], list[Tensor], list[Tensor]]:
        """``(pooled, vectors, ids, positions)`` per row in the order added (host tensors)."""
        parts = [b.rows() for b in self._batches]
        return (torch.cat([p[0] for p in parts]), [v for p in parts for v in p[1]],
                [v for p in parts for v in p[2]], [v for p in parts for v in p[3]])

    def assemble(self, order: list[int]) -> EncodedTexts:
        """The rows as :class:`EncodedTexts` in input order; row ``j`` added was input ``order[j]``."""
        unsort = inverse_order(order)
        if not self._on_host and self._batches and self._batches[0].vectors.device.type != "cpu":
            return _assemble_on_device(ForwardBatch.cat(self._batches), unsort)
        pooled, vectors, ids, positions = self.rows()
        keep = unsort.tolist()
        return EncodedTexts.from_lists(pooled=pooled[unsort], token_vectors=[vectors[j] for j in keep],
                                       token_ids=[ids[j] for j in keep], positions=[positions[j] for j in keep])

    def _device_budget(self, device: torch.device) -> int:
        if self._max_device_bytes is None:
            self._max_device_bytes = MAX_DEVICE_BYTES
            if device.type == "cuda":
                free, _ = torch.cuda.mem_get_info(device)
                self._max_device_bytes = min(MAX_DEVICE_BYTES, free // 4)
        return self._max_device_bytes


def _assemble_on_device(joined: ForwardBatch, unsort: Tensor) -> EncodedTexts:
    """Reorder the rows with one gather on the device, then copy each packed field to the host once."""
    device = joined.vectors.device
    unsort = unsort.to(device)
    starts_added = torch.cumsum(joined.counts, 0) - joined.counts
    counts = joined.counts[unsort]
    offsets = torch.zeros(len(counts) + 1, dtype=torch.int64, device=device)
    offsets[1:] = torch.cumsum(counts, 0)
    total = joined.vectors.shape[0]
    gather = torch.repeat_interleave(starts_added[unsort] - offsets[:-1], counts, output_size=total)
    gather += torch.arange(total, device=device)
    return EncodedTexts(
        pooled=joined.pooled[unsort].cpu(),
        tokens=joined.vectors[gather].cpu(),
        offsets=offsets.cpu(),
        token_ids=joined.token_ids[gather].cpu(),
        positions=joined.positions[gather].cpu(),
    )
