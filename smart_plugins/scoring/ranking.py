"""Top-k selection: the one implementation every ranking in smart-plugins goes through."""

from __future__ import annotations

from typing import TYPE_CHECKING, overload

import numpy as np

from smart_plugins.lazy import lazy_module

if TYPE_CHECKING:
    from torch import Tensor

torch = lazy_module("torch", globals())


@overload
def top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]: ...
@overload
def top_k(scores: Tensor, k: int) -> tuple[Tensor, Tensor]: ...


def top_k(scores: np.ndarray | Tensor, k: int) -> tuple[np.ndarray | Tensor, np.ndarray | Tensor]:
    """The ``k`` best entries along the last axis, best first: ``(values, indices)``.

    ``k`` larger than the number of entries returns them all. Ties keep the earlier entry
    first for numpy input (a stable order, so a ranking is reproducible); tensors go through
    ``torch.topk`` (differentiable values; ties in its order).

    Parameters
    ----------
    scores:
        ``(N,)`` or ``(Q, N)`` scores, numpy or torch.
    k:
        How many to keep (positive).

    Examples
    --------
    >>> values, order = top_k(np.array([0.2, 0.9, 0.5, 0.9]), 3)
    >>> order.tolist(), values.tolist()
    ([1, 3, 2], [0.9, 0.9, 0.5])
    >>> top_k(torch.tensor([[1.0, 3.0, 2.0]]), 2)[1].tolist()
    [[1, 2]]
    """
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k <= 0:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    n = scores.shape[-1]
    k = min(int(k), n)
    if isinstance(scores, torch.Tensor):
        top = torch.topk(scores, k, dim=-1, sorted=True)
        return top.values, top.indices
    scores = np.asarray(scores)
    if scores.ndim == 2:
        rows = [_top_k_1d(row, k) for row in scores]
        return np.stack([v for v, _ in rows]), np.stack([o for _, o in rows])
    return _top_k_1d(scores, k)


def _top_k_1d(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    if k < len(scores) // 2:  # partition first: every entry at least as good as the k-th survives
        kth = -np.partition(-scores, k - 1)[k - 1]
        survivors = np.flatnonzero(scores >= kth)  # ascending positions: ties keep their order
        order = survivors[np.argsort(-scores[survivors], kind="stable")[:k]]
    else:
        order = np.argsort(-scores, kind="stable")[:k]
    return scores[order], order
