"""The remedy interface: registration (functions and classes), fixes, reasons, failing remedies."""

from __future__ import annotations

import pytest

from extmigrate.engine import project_filter
from extmigrate.fix import base
from extmigrate.fix.base import Edit, FixProposal, NoFix, propose_fixes, reason_without_fix, remedy
from extmigrate.flags import TUSpec, python_paths
from extmigrate.model import Finding
from extmigrate.parse import parse
from extmigrate.tree import TUView


@pytest.fixture
def view(tmp_path):
    path = tmp_path / "m.c"
    path.write_text("#include <Python.h>\nstatic int answer = 42;\n")
    spec = TUSpec(str(path), ["-x", "c", f"-I{python_paths(None)['include']}"], str(tmp_path))
    return TUView(parse(spec), str(path), project_filter([str(tmp_path)]))


def finding(code: str, path: str) -> Finding:
    return Finding(code, "test", "other", "note", path, 2, 1, 2, 10, None, "answer", "m", "e", "a")


@pytest.fixture
def registry():
    base.get_remedy("FT201")  # load the real remedies first
    added = []
    yield added
    for code in added:
        base._REMEDIES.pop(code, None)


def test_class_function_and_failing_remedies(view, registry):
    registry += ["FT990", "FT991", "FT992", "FT993"]

    @remedy("FT990")
    class Rename:
        def __call__(self, tu, f, ctx):
            start = ctx.source(f.path).index(b"answer")
            return FixProposal("safe", "rename", [Edit(f.path, start, start + 6, "reply")], apis=["X"])

    @remedy("FT991")
    def refuse(tu, f, ctx):
        return NoFix("this shape cannot be rewritten")

    @remedy("FT992")
    def crash(tu, f, ctx):
        raise KeyError("offset")

    fs = [finding(c, view.main_path) for c in ("FT990", "FT991", "FT992", "FT993")]
    propose_fixes(view, fs)
    assert fs[0].fix["edits"] == [{"path": view.main_path, "start": 31, "end": 37, "text": "reply"}]
    assert fs[0].fix["applicability"] == "safe" and len(fs[0].fix["hashes"][view.main_path]) == 64
    assert reason_without_fix(fs[1]) == "this shape cannot be rewritten"
    assert reason_without_fix(fs[2]).startswith("the remedy failed (KeyError")
    assert "no mechanical remedy for this rule" in reason_without_fix(fs[3])
    with pytest.raises(AssertionError):
        remedy("FT990")(refuse)  # one remedy per rule code
