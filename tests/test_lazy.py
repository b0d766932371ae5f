"""Modules loaded on first use, and faiss imported without its loader's INFO chatter."""

from __future__ import annotations

import subprocess
import sys

import pytest

from smart_plugins.lazy import lazy_module


def test_a_lazy_module_loads_on_first_attribute_and_replaces_itself(monkeypatch):
    monkeypatch.delitem(sys.modules, "colorsys", raising=False)
    namespace: dict = {}
    namespace["colorsys"] = lazy_module("colorsys", namespace)
    assert "colorsys" not in sys.modules
    assert namespace["colorsys"].rgb_to_hsv(1.0, 0.0, 0.0) == (0.0, 1.0, 1.0)
    assert namespace["colorsys"] is sys.modules["colorsys"]


def test_an_alias_is_replaced_under_its_own_name():
    namespace: dict = {}
    namespace["P"] = lazy_module("os.path", namespace, "P")
    assert namespace["P"].join("a", "b")
    assert namespace["P"] is sys.modules["posixpath"] or namespace["P"] is sys.modules["os.path"]


FAISS_PROBE = """
import logging, sys
logging.basicConfig(level=logging.{level}, stream=sys.stdout, format="%(levelname)s %(name)s %(message)s")
from smart_plugins.lazy import import_faiss
faiss = import_faiss()
print("INDEX", faiss.IndexFlatIP(4).d)
logging.getLogger("faiss.loader").info("after the import")
"""


def _faiss_logs(level: str) -> str:
    pytest.importorskip("faiss")
    return subprocess.run([sys.executable, "-c", FAISS_PROBE.format(level=level)], capture_output=True, text=True,
                          check=True).stdout


def test_faiss_loader_messages_stay_out_of_info_logs():
    out = _faiss_logs("INFO")
    assert "INDEX 4" in out
    assert "Loading faiss" not in out and "Could not load library" not in out
    assert "INFO faiss.loader after the import" in out  # only the import is quietened


def test_faiss_loader_messages_show_as_debug():
    out = _faiss_logs("DEBUG")
    assert "DEBUG faiss.loader Loading faiss" in out and "INFO faiss.loader Loading" not in out
