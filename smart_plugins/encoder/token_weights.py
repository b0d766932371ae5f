"""Learned query-token weights, folded into the query token vectors.

A token adapter may score how much each query token should count in the late score. The
weights are a softmax over one query's kept tokens, times the number of those tokens, so they
average 1 and a query with uniform weights scores exactly as before. Because MaxSim is linear in
each query vector (``max_j <w q_i, d_j> = w max_j <q_i, d_j>`` for ``w > 0``), scaling the unit
query vectors by their weights turns the plain mean of :func:`~smart_plugins.scoring.maxsim`
into the weighted mean, with no change to the kernel, the index or any integration. Document
vectors are never weighted: they stay unit vectors, which the token codecs rely on.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

#: Feature a token adapter writes (``(B, L)`` logits) when it weights query tokens.
TOKEN_WEIGHT_LOGITS_KEY = "smart_token_weight_logits"


def weight_tokens(tokens: Tensor, logits: Tensor, lengths: Sequence[int] | Tensor) -> Tensor:
    """Scale packed unit ``tokens`` by ``len(text) * softmax(logits over the text's tokens)``.

    Parameters
    ----------
    tokens:
        ``(T, D)`` packed token vectors of several texts, text after text.
    logits:
        ``(T,)`` one logit per token.
    lengths:
        Tokens per text (sums to ``T``).

    Examples
    --------
    >>> import torch
    >>> tokens = torch.eye(3)
    >>> weight_tokens(tokens, torch.zeros(3), [2, 1]).norm(dim=1).tolist()  # uniform: unchanged
    [1.0, 1.0, 1.0]
    >>> w = weight_tokens(tokens, torch.tensor([0.0, 2.0, 5.0]), [2, 1]).norm(dim=1)
    >>> round(float(w[:2].mean()), 6), round(float(w[2]), 6)  # each text's weights average 1
    (1.0, 1.0)
    """
    lengths = torch.as_tensor(lengths, dtype=torch.int64, device=tokens.device)
    if logits.shape != tokens.shape[:1]:
        raise ValueError(f"expected one logit per token ({tokens.shape[0]}), got shape {tuple(logits.shape)}")
    if int(lengths.sum()) != tokens.shape[0]:
        raise ValueError(f"lengths sum to {int(lengths.sum())} but there are {tokens.shape[0]} tokens")
    if tokens.shape[0] == 0:
        return tokens
    owner = torch.repeat_interleave(torch.arange(len(lengths), device=tokens.device), lengths)
    logits = logits.float()
    peak = torch.full((len(lengths),), float("-inf"), device=tokens.device).scatter_reduce(
        0, owner, logits.detach(), "amax", include_self=True
    )
    exp = torch.exp(logits - peak[owner])
    total = torch.zeros(len(lengths), device=tokens.device, dtype=exp.dtype).index_add_(0, owner, exp)
    weights = exp / total[owner] * lengths[owner].to(exp.dtype)
    return tokens * weights.unsqueeze(-1).to(tokens.dtype)
