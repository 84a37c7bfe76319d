"""Inline suppressions and baselines on real scans."""

from __future__ import annotations

import json

import pytest

from extmigrate.scan import ScanOptions, scan
from extmigrate.suppress import BaselineError, read_baseline, write_baseline

HEAD = """#include <Python.h>
static int exec_mod(PyObject *m) { return 0; }
"""


def _module(n: int, marks: dict[int, str] | None = None) -> str:
    """n slot arrays without Py_mod_gil, each used by a PyModuleDef; marks[i] is put before array i."""
    out = [HEAD]
    for i in range(n):
        mark = (marks or {}).get(i, "")
        if mark.startswith("//") or mark.startswith("/*"):
            out.append(mark + "\n")
            mark = ""
        out.append(f"static PyModuleDef_Slot slots{i}[] = {{  {mark}\n"
                   "    {Py_mod_exec, exec_mod},\n    {0, NULL},\n};\n"
                   f"static struct PyModuleDef def{i} = {{PyModuleDef_HEAD_INIT, \"m{i}\", NULL, 0, NULL, slots{i}}};\n")
    return "".join(out)


def test_markers_on_the_line_and_on_a_comment_line_before(scan_c):
    res = scan_c(_module(7, {
        0: "/* extmigrate: ignore[FT201] reviewed: the module keeps the GIL */",  # same line
        1: "// extmigrate: ignore[FT201]",                                      # line before
        2: "// extmigrate: ignore[module-gil-slot] by rule name",
        3: "/* extmigrate: ignore[module-gil] by category */",
        4: "/* extmigrate: ignore[FT301] another rule */",                       # does not match
        5: "// extmigrate: ignore",                                             # everything
    }), select=["FT201"])
    assert [f.symbol for f in res.findings] == ["slots4", "slots6"]
    assert res.suppressed == 5


def test_marker_after_code_on_the_line_before_does_not_leak(scan_c):
    code = HEAD + """
static int counter;  /* extmigrate: ignore[FT201] */
static PyModuleDef_Slot slots[] = {{Py_mod_exec, exec_mod}, {0, NULL}};
static struct PyModuleDef def = {PyModuleDef_HEAD_INIT, "m", NULL, 0, NULL, slots};
"""
    res = scan_c(code, select=["FT201"])
    assert [f.symbol for f in res.findings] == ["slots"] and res.suppressed == 0


def test_baseline_survives_lines_inserted_above(tmp_path):
    src = tmp_path / "mod.c"
    src.write_text(_module(2))
    opts = ScanOptions(paths=[str(tmp_path)], select=["FT201"], jobs=1)
    before = scan(opts).findings
    assert len(before) == 2
    baseline = tmp_path / "extmigrate-baseline.json"
    write_baseline(str(baseline), before, str(tmp_path))
    doc = json.loads(baseline.read_text())
    assert [e["key"] for e in doc["findings"]] == ["FT201:mod.c::slots0", "FT201:mod.c::slots1"]

    # twenty new lines above every finding, and a third, new finding
    src.write_text("/* licence\n" + " * text\n" * 19 + " */\n" + _module(3))
    opts.baseline = str(baseline)
    res = scan(opts)
    assert [(f.symbol, f.line > before[1].line) for f in res.findings] == [("slots2", True)]
    assert res.baselined == 2


def test_baseline_counts_repeated_keys(tmp_path):
    # two findings with the same rule/file/function/symbol: the baseline holds a count
    src = tmp_path / "mod.c"
    src.write_text(_module(1))
    opts = ScanOptions(paths=[str(tmp_path)], select=["FT201"], jobs=1)
    found = scan(opts).findings
    write_baseline(str(tmp_path / "b.json"), found + found, str(tmp_path))
    assert read_baseline(str(tmp_path / "b.json")) == {"FT201:mod.c::slots0": 2}


@pytest.mark.parametrize("content", [None, "not json", '{"findings": 3}', '{"version": 1}'])
def test_unreadable_baselines(tmp_path, content):
    path = tmp_path / "b.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(BaselineError) as e:
        read_baseline(str(path))
    assert str(path) in str(e.value)
