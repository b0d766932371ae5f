from __future__ import annotations

import re
import pytest

from smart_plugins.evaluation.dataset import load_beir
from smart_plugins.evaluation.toy import make_toy_task, write_toy_task

_BINDING = re.compile(r"(?:Code ([A-Z]-\d\d) (?:labels|marks) the (\w+ \w+)|The (\w+ \w+) is labelled by code ([A-Z]-\d\d))")


def _bindings(text: str) -> set[tuple[str, str]]:
    out = set()
    for m in _BINDING.finditer(text):
        out.add((m.group(1), m.group(2)) if m.group(1) else (m.group(4), m.group(3)))
    return out


def test_each_query_binding_is_in_exactly_its_document():
    task = make_toy_task(n_docs=60, bindings=4, group_size=3, seed=3)
    docs = dict(task.docs)
    per_doc = {d: _bindings(t) for d, t in docs.items()}
    assert all(len(b) == 4 for b in per_doc.values())
    for qid, text in task.queries:
        code, marker = re.search(r"code ([A-Z]-\d\d) labelling the (\w+ \w+)\?", text).groups()
        holders = [d for d, b in per_doc.items() if (code, marker) in b]
        assert holders == [task.qrels[qid]]


def test_distractors_share_codes_and_markers():
    task = make_toy_task(n_docs=40, bindings=4, group_size=4, seed=0)
    per_doc = {d: _bindings(t) for d, t in task.docs}
    for qid, text in task.queries:
        code, marker = re.search(r"code ([A-Z]-\d\d) labelling the (\w+ \w+)\?", text).groups()
        target = task.qrels[qid]
        same_code = [d for d, b in per_doc.items() if d != target and any(c == code for c, _ in b)]
        same_marker = [d for d, b in per_doc.items() if d != target and any(m == marker for _, m in b)]
        assert len(same_code) == 3 and len(same_marker) >= 3  # the other members of the group at least
    first_group = [per_doc[d] for d, _ in task.docs[:4]]
    assert len({frozenset(c for c, _ in b) for b in first_group}) == 1  # same codes ...
    assert len({frozenset(m for _, m in b) for b in first_group}) == 1  # ... same markers ...
    assert len({frozenset(b) for b in first_group}) == 4  # ... bound differently


def test_seed_decides_the_task():
    assert make_toy_task(20, 3, 2, seed=5) == make_toy_task(20, 3, 2, seed=5)
    assert make_toy_task(20, 3, 2, seed=5) != make_toy_task(20, 3, 2, seed=6)


@pytest.mark.parametrize("kwargs, message", [
    ({"bindings": 1}, "bindings must be at least 2"),
    ({"bindings": 3, "group_size": 4}, "group_size must be between"),
    ({"bindings": 3, "group_size": 1}, "group_size must be between"),
])
def test_bad_parameters(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_toy_task(n_docs=10, **kwargs)


def test_written_folder_loads_with_disjoint_splits(tmp_path):
    folder = write_toy_task(tmp_path / "toy", n_docs=40, bindings=3, group_size=2, seed=1)
    test, train = load_beir(folder, "test"), load_beir(folder, "train")
    assert len(test.doc_ids) == 40 and len(test.query_ids) + len(train.query_ids) == 40
    test_docs = {d for judged in test.qrels.values() for d in judged}
    train_docs = {d for judged in train.qrels.values() for d in judged}
    assert test_docs.isdisjoint(train_docs)
