"""EncodedTexts: the packed pooled + token container."""

import pytest
import torch

from smart_plugins.encoder import EncodedTexts


def _batch() -> EncodedTexts:
    vectors = [torch.randn(n, 4) for n in (3, 1, 2)]
    return EncodedTexts.from_lists(
        pooled=torch.randn(3, 5),
        token_vectors=vectors,
        token_ids=[torch.arange(n) + 10 * i for i, n in enumerate((3, 1, 2))],
    )


def test_offsets_and_slices():
    enc = _batch()
    assert enc.offsets.tolist() == [0, 3, 4, 6]
    assert enc.lengths.tolist() == [3, 1, 2]
    assert torch.equal(enc.token_vectors(2), enc.tokens[4:6])


def test_select_reorders_tokens_with_their_texts():
    enc = _batch()
    picked = enc.select([2, 0])
    assert picked.lengths.tolist() == [2, 3]
    assert torch.equal(picked.token_vectors(0), enc.token_vectors(2))
    assert torch.equal(picked.token_ids, torch.cat([enc.token_ids[4:6], enc.token_ids[0:3]]))
    assert torch.equal(picked.pooled, enc.pooled[[2, 0]])


def test_concat_is_inverse_of_select():
    enc = _batch()
    joined = EncodedTexts.concat([enc.select([0]), enc.select([1, 2])])
    assert torch.equal(joined.tokens, enc.tokens) and torch.equal(joined.offsets, enc.offsets)


def test_inconsistent_shapes_rejected():
    with pytest.raises(ValueError, match="offsets must have shape"):
        EncodedTexts(torch.zeros(2, 3), torch.zeros(4, 3), torch.tensor([0, 4]), torch.zeros(4), torch.zeros(4))
    with pytest.raises(ValueError, match="tokens must have shape"):
        EncodedTexts(torch.zeros(1, 3), torch.zeros(5, 3), torch.tensor([0, 4]), torch.zeros(4), torch.zeros(4))
