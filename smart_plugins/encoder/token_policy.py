"""Which token states of a forward pass become late-interaction vectors."""

from __future__ import annotations

import string
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

# Prefixes tokenizers put on sub-words / word starts; stripped before the punctuation test.
_SUBWORD_MARKERS = ("##", "\u0120", "\u2581", "\u010a")


@dataclass(frozen=True)
class TokenPolicy:
    """Rules for keeping token states.

    By default padding, special tokens ([CLS], [SEP], <s>, ...) and prompt tokens are dropped
    and everything else is kept, as in the SMART method.

    Parameters
    ----------
    keep_special_tokens:
        Keep [CLS]/[SEP]-style tokens as late-interaction vectors.
    keep_prompt_tokens:
        Keep the tokens of a query/document prompt (e.g. ``"query: "``).
    skip_punctuation:
        Drop tokens made only of punctuation characters (ColBERT's document skiplist).
    skiplist:
        Extra words whose tokens are dropped (matched as whole vocabulary tokens).
    query_visual_tokens:
        On a vision-language model, keep the visual placeholder tokens (``<|image_pad|>``...)
        of *queries*; ``False`` keeps queries text-only (documents always keep them: they are
        the page's patch vectors). Chat-template and special tokens are dropped either way
        (unless ``keep_special_tokens``).

    Examples
    --------
    >>> TokenPolicy().describe()
    {'keep_special_tokens': False, 'keep_prompt_tokens': False, 'skip_punctuation': False, 'skiplist': []}
    """

    keep_special_tokens: bool = False
    keep_prompt_tokens: bool = False
    skip_punctuation: bool = False
    skiplist: tuple[str, ...] = field(default_factory=tuple)
    query_visual_tokens: bool = True

    def describe(self) -> dict[str, Any]:
        """A JSON-able description, recorded by indexes and caches to detect mismatches."""
        return {
            "keep_special_tokens": self.keep_special_tokens,
            "keep_prompt_tokens": self.keep_prompt_tokens,
            "skip_punctuation": self.skip_punctuation,
            "skiplist": sorted(self.skiplist),
            # recorded only when not the default, so text indexes keep their description
            **({"query_visual_tokens": False} if not self.query_visual_tokens else {}),
        }

    @classmethod
    def from_description(cls, description: dict[str, Any]) -> TokenPolicy:
        """Inverse of :meth:`describe`."""
        return cls(
            keep_special_tokens=bool(description.get("keep_special_tokens", False)),
            keep_prompt_tokens=bool(description.get("keep_prompt_tokens", False)),
            skip_punctuation=bool(description.get("skip_punctuation", False)),
            skiplist=tuple(description.get("skiplist", ())),
            query_visual_tokens=bool(description.get("query_visual_tokens", True)),
        )

    def dropped_token_ids(self, tokenizer: Any) -> Tensor:
        """Vocabulary ids this policy never keeps (specials, punctuation, skiplist)."""
        ids: set[int] = set()
        if not self.keep_special_tokens:
            # [UNK] stands for real text, so it stays; [CLS], [SEP], <s>, padding... go.
            ids.update(int(i) for i in tokenizer.all_special_ids if i != tokenizer.unk_token_id)
        if self.skip_punctuation:
            ids.update(_punctuation_ids(tokenizer.get_vocab().items()))
        for word in self.skiplist:
            ids.update(int(i) for i in tokenizer(word, add_special_tokens=False)["input_ids"])
        return torch.tensor(sorted(ids), dtype=torch.int64)


def _punctuation_ids(vocab: Iterable[tuple[str, int]]) -> set[int]:
    ids = set()
    for token, idx in vocab:
        stripped = token
        for marker in _SUBWORD_MARKERS:
            stripped = stripped.removeprefix(marker)
        if stripped and all(_is_punctuation(ch) for ch in stripped):
            ids.add(int(idx))
    return ids


def _is_punctuation(ch: str) -> bool:
    return ch in string.punctuation or unicodedata.category(ch).startswith("P")


def kept_token_mask(
    input_ids: Tensor,
    attention_mask: Tensor,
    dropped_ids: Tensor,
    prompt_length: int | None,
) -> Tensor:
    """Boolean ``(B, L)`` mask of the token states to keep.

    Works for right and left padding: the prompt is the first ``prompt_length`` non-padding
    tokens of each row (the count sentence-transformers reports, [CLS] included).
    """
    keep = attention_mask.bool()
    if dropped_ids.numel():
        keep &= ~torch.isin(input_ids, dropped_ids.to(input_ids.device))
    if prompt_length:
        position_in_text = torch.cumsum(attention_mask.to(torch.int64), dim=1) - 1
        keep &= position_in_text >= prompt_length
    return keep
