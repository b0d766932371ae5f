import pytest

from smart_plugins.scoring.pseudo_queries import MIN_DOC_WORDS, draw_from_reader, draw_pseudo_queries

CORPUS = [" ".join(f"w{d}x{i}" for i in range(10 + d)) for d in range(40)]


def test_spans_come_from_their_document_one_per_document():
    drawn = draw_pseudo_queries(CORPUS, 20, span_words=5, seed=3)
    assert len(drawn) == 20 and len({q.doc for q in drawn}) == 20
    assert [q.doc for q in drawn] == sorted(q.doc for q in drawn)
    for q in drawn:
        assert len(CORPUS[q.doc].split()) >= MIN_DOC_WORDS
        assert len(q.text.split()) == 5 and q.text in CORPUS[q.doc]


def test_draw_is_deterministic_and_seeded():
    a = draw_pseudo_queries(CORPUS, 10, seed=1)
    assert a == draw_pseudo_queries(CORPUS, 10, seed=1)
    assert a != draw_pseudo_queries(CORPUS, 10, seed=2)


def test_smaller_draw_is_a_subset_of_a_larger_one():
    small, large = draw_pseudo_queries(CORPUS, 5), draw_pseudo_queries(CORPUS, 20)
    assert set(small) <= set(large)


def test_short_documents_are_never_drawn():
    drawn = draw_pseudo_queries(["too short", *CORPUS[:3]], 10)
    assert {q.doc for q in drawn} == {3}  # CORPUS[:3] have 10, 11 and 12 words: only 12 is enough
    assert draw_pseudo_queries(["a b c"] * 50, 5) == []


def test_reader_reads_about_n_documents_not_the_whole_corpus():
    read: list[int] = []

    def reader(rows):
        read.extend(rows)
        return [CORPUS[r % len(CORPUS)] + " pad pad" for r in rows]

    drawn = draw_from_reader(10_000, reader, 8)
    assert len(drawn) == 8 and len(read) <= 64


def test_first_and_sentence_draws():
    doc = "Alpha beta gamma delta. Epsilon zeta eta theta iota kappa lambda mu."
    assert draw_pseudo_queries([doc], 1, span_words=3, how="first")[0].text == "Alpha beta gamma"
    assert draw_pseudo_queries([doc], 1, how="sentence")[0].text in {"Alpha beta gamma delta.", "Epsilon zeta eta theta iota kappa lambda mu."}


@pytest.mark.parametrize("kwargs, message", [({"n": 0}, "n must be"), ({"n": 2, "span_words": 0}, "span_words"), ({"n": 2, "how": "x"}, "how must be")])
def test_bad_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        draw_pseudo_queries(CORPUS, **kwargs)
