"""Token-level evidence: which document token each query token matched, and how strongly."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from smart_plugins.index.results import TokenMatch
from smart_plugins.lazy import lazy_module

if TYPE_CHECKING:
    from torch import Tensor

torch = lazy_module("torch", globals())


def token_matches(
    query_tokens: Tensor,
    query_ids: Tensor,
    query_positions: Tensor,
    doc_tokens: Tensor,
    doc_ids: np.ndarray,
    doc_positions: np.ndarray,
    tokenizer: Any,
    doc_text: str | None = None,
) -> list[TokenMatch]:
    """For every query token, its best-matching document token (the argmax inside MaxSim) and
    their cosine similarity.

    Examples
    --------
    >>> import numpy as np, torch
    >>> class Tok:
    ...     def convert_ids_to_tokens(self, ids): return [f"t{i}" for i in ids]
    >>> q = torch.tensor([[1.0, 0.0]])
    >>> d = torch.tensor([[0.0, 1.0], [1.0, 0.0]])
    >>> m = token_matches(q, torch.tensor([7]), torch.tensor([1]), d, np.array([5, 7]), np.array([1, 2]), Tok())
    >>> (m[0].query_token, m[0].doc_token, m[0].doc_position, m[0].similarity)
    ('t7', 't7', 2, 1.0)
    """
    # cosine: query vectors may carry an adapter's learned token weights (their norms)
    sims = torch.nn.functional.normalize(query_tokens.float(), dim=-1) @ doc_tokens.float().T
    best, arg = sims.max(dim=1)
    q_strings = token_strings(tokenizer, query_ids)
    d_strings = token_strings(tokenizer, doc_ids)
    spans = _char_spans(tokenizer, doc_text, doc_ids, doc_positions) if doc_text is not None else None
    out = []
    for i, (score, j) in enumerate(zip(best.tolist(), arg.tolist())):
        out.append(
            TokenMatch(
                query_token=q_strings[i],
                query_position=int(query_positions[i]),
                doc_token=d_strings[j],
                doc_position=int(doc_positions[j]),
                similarity=float(score),
                doc_span=None if spans is None else spans[j],
            )
        )
    return out


def token_strings(tokenizer: Any, ids: Any) -> list[str]:
    """Vocabulary strings of token ids; an image patch of a dual encoder (negative id) is ``"<patch>"``.

    Examples
    --------
    >>> class Tok:
    ...     def convert_ids_to_tokens(self, ids): return [f"t{i}" for i in ids]
    >>> token_strings(Tok(), [3, -1, -2])
    ['t3', '<patch>', '<cls-patch>']
    """
    values = [int(i) for i in ids]
    known = tokenizer.convert_ids_to_tokens([i for i in values if i >= 0])
    names = iter(known)
    return [next(names) if i >= 0 else ("<patch>" if i == -1 else "<cls-patch>") for i in values]


def _char_spans(
    tokenizer: Any, text: str, doc_ids: np.ndarray, doc_positions: np.ndarray
) -> list[tuple[int, int] | None] | None:
    """Character span of each stored document token, recovered by re-tokenising the text."""
    try:
        encoded = tokenizer(text, return_offsets_mapping=True, add_special_tokens=True, truncation=False, verbose=False)
    except (TypeError, ValueError, NotImplementedError):  # slow tokenizers have no offsets
        return None
    ids, spans = encoded["input_ids"], encoded["offset_mapping"]
    out: list[tuple[int, int] | None] = []
    for token_id, position in zip(doc_ids.tolist(), doc_positions.tolist()):
        ok = 0 <= position < len(ids) and ids[position] == token_id
        out.append((int(spans[position][0]), int(spans[position][1])) if ok else None)
    if any(span is None for span, token_id in zip(out, doc_ids.tolist()) if token_id >= 0):
        # positions count tokens the text alone does not have (a VLM's chat template, visual
        # tokens): align the stored ids, in order, with the text's own tokens instead
        cursor, aligned = 0, []
        for token_id in doc_ids.tolist():
            found = next((j for j in range(cursor, len(ids)) if ids[j] == token_id), None)
            aligned.append(None if found is None else (int(spans[found][0]), int(spans[found][1])))
            cursor = cursor if found is None else found + 1
        if sum(a is not None for a in aligned) > sum(o is not None for o in out):
            return aligned
    return out


def as_tensor(array: np.ndarray) -> Tensor:
    return torch.from_numpy(np.ascontiguousarray(array))
