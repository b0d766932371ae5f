import pytest

from smart_plugins.scoring.pseudo_queries import (
    MIN_DOC_WORDS,
    draw_from_reader,
    draw_pseudo_queries,
    is_prose,
    mean_prose,
    prose_share,
)

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


@pytest.mark.parametrize("how", ["span", "first", "sentence"])
def test_rest_is_the_document_without_the_query(how):
    doc = "Alpha beta gamma delta epsilon. Zeta eta theta iota kappa lambda mu nu xi omicron."
    q = draw_pseudo_queries([doc], 1, span_words=4, how=how)[0]
    assert sorted(q.rest.split() + q.text.split()) == sorted(doc.split())  # every word once, in one or the other
    assert q.text not in q.rest


def test_prose_draws_natural_language_lines_and_skips_documents_without_one():
    code = "def area(width, height):\n    # Multiply the two sides to get the area\n    return width * height  # x"
    only_code = "def f(a, b):\n    c = a.b(c_d, e_f[0])\n    return g_h(c) + i_j.k(l_m, n_o)"
    drawn = draw_pseudo_queries([code, only_code], 5, how="prose")
    assert [(q.text, q.doc) for q in drawn] == [("Multiply the two sides to get the area", 0)]
    assert "Multiply" not in drawn[0].rest and "return width * height" in drawn[0].rest


def test_prose_test():
    assert is_prose("This package contains the development files.")
    assert is_prose("Code S-92 labels the red triangle.")  # one code in six words is still prose
    assert not is_prose("self._cache[key] = compute(value, other)")
    assert not is_prose("Too short here.")


CODE = "def parse_rows(path, sep=','):\n    rows = []\n    for line in open(path):\n        rows.append(line.rstrip().split(sep))\n    return rows"
PROSE = "Tools to parse delimited text files. Each line of the file becomes one row of fields."


def test_prose_share_tells_source_code_from_prose():
    assert prose_share(PROSE) == 1.0
    assert prose_share(CODE) == 0.0
    assert 0.0 < prose_share(CODE.replace("    rows = []", "    # Collect every row of the file here first")) < 0.5
    assert prose_share("") == 0.0


def test_drawn_queries_carry_their_documents_prose_share():
    drawn = draw_pseudo_queries([CODE, PROSE + " " + PROSE], 2, span_words=4)
    assert [q.doc_prose for q in drawn] == [prose_share(CODE), 1.0]
    assert mean_prose(drawn) == 0.5 and mean_prose([]) == 1.0


def test_prose_in_other_alphabets_is_prose():
    assert prose_share("Bibliothèque de développement pour les fichiers réseau.") == 1.0
    assert prose_share("Библиотека для разработки сетевых приложений и утилит.") == 1.0
    assert prose_share("Werkzeuge zur Übersetzung von Dateien in Unicode.") == 1.0
    assert prose_share("x_1 = météo(y, 2)\nreturn x_1") == 0.0
