"""The patch layer: merging, conflicts, stale / read-only / non-UTF-8 files, diffs that apply."""

from __future__ import annotations

import copy
import os
import stat

import pytest

from extmigrate.fileio import StaleFile, write_file
from extmigrate.fix.patch import PlanOptions, apply_edits, plan, unified_diff
from extmigrate.fix.base import Edit
from extmigrate.scan import ScanOptions, scan
from tests.fix.conftest import git_apply_check
from tests.fix.test_module_gil_slot import MODULE


def _scan(root):
    return scan(ScanOptions(paths=[str(root)], select=["FT201"], jobs=1)).findings


def test_file_changed_after_the_scan_is_refused(project):
    project.write({"spam.c": MODULE})
    findings = _scan(project.root)
    assert findings and findings[0].fix
    (project.root / "spam.c").write_text(project.read("spam.c") + "/* edited meanwhile */\n")
    pl = plan(findings, PlanOptions())
    assert pl.patches == []
    assert any("changed since it was scanned" in why for _, why in pl.skipped)


def test_file_changed_between_plan_and_write_is_refused(project):
    project.write({"spam.c": MODULE})
    pl = plan(_scan(project.root), PlanOptions(for_write=True))
    (project.root / "spam.c").write_text("/* rewritten */\n")
    with pytest.raises(StaleFile):
        write_file(pl.patches[0].path, pl.patches[0].new, expect=pl.patches[0].old)
    assert project.read("spam.c") == "/* rewritten */\n"


def test_read_only_file_is_refused_with_a_message(project):
    project.write({"spam.c": MODULE})
    path = project.root / "spam.c"
    path.chmod(0o444)
    before = project.read("spam.c")
    rc, out, err = project.fix("--apply")
    assert rc == 1
    assert "read-only" in err
    assert project.read("spam.c") == before
    assert stat.S_IMODE(path.stat().st_mode) == 0o444


def test_non_utf8_file_is_left_alone(project):
    project.write({"spam.c": MODULE})
    path = project.root / "spam.c"
    path.write_bytes(b"/* caf\xe9 (latin-1) */\n" + path.read_bytes())
    rc, diff, err = project.fix()
    assert diff == ""
    assert "not UTF-8" in err


def test_identical_edits_merge_and_conflicting_ones_are_refused(project):
    project.write({"spam.c": MODULE})
    f = _scan(project.root)[0]
    twin = copy.deepcopy(f)
    rival = copy.deepcopy(f)
    rival.fix["edits"][0]["end"] += 3  # overlaps the same place with a different change
    rival.fix["declaration"] = False
    pl = plan([f, twin], PlanOptions())
    assert len(pl.fixed) == 2 and len(pl.patches) == 1
    assert pl.patches[0].new.count(b"Py_MOD_GIL_NOT_USED") == 1
    rival.fix["edits"][0]["start"] -= 1
    pl = plan([rival, f], PlanOptions())
    line = project.read("spam.c").encode()[:f.fix["edits"][0]["start"]].count(b"\n") + 1
    assert [why for _, why in pl.skipped] == [f"conflicts with the fix for FT201 at line {f.line}: both "
                                              f"rewrite line {line} (left for the next run)"]


def _wrap(path, start, end, var, stmt):
    return Edit(path, start, end, f"{{ Py_XDECREF({var}); {stmt} }}", f"Py_XDECREF({var});")


def test_releases_before_one_exit_merge_and_come_apart(tmp_path):
    """Two fixes wrapping the same return with their releases make one wrapper; a fix dropped later
    (no place for the compat include) takes its release out of it again."""
    from types import SimpleNamespace

    from extmigrate.fix.patch import _Merger

    src = b"int f(void) {\n    return x;\n}\n"
    path = str(tmp_path / "f.c")
    at, end = src.index(b"return"), src.index(b";") + 1
    a, b, c = (_wrap(path, at, end, v, "return x;") for v in "abc")
    merger = _Merger(lambda p: src)
    fa, fb = (SimpleNamespace(code="FT102", line=n) for n in (1, 2))
    merger.add(fa, [a])
    assert merger.conflict([b]) is None
    merger.add(fb, [b])
    merger.add(fb, [c])
    assert apply_edits(src, merger.edits[path]) == \
        b"int f(void) {\n    { Py_XDECREF(a); Py_XDECREF(b); Py_XDECREF(c); return x; }\n}\n"
    merger.remove(b)
    assert apply_edits(src, merger.edits[path]) == b"int f(void) {\n    { Py_XDECREF(a); Py_XDECREF(c); return x; }\n}\n"
    other = Edit(path, at, end, "return y;")
    assert merger.conflict([other]) == "conflicts with the fix for FT102 at line 1: both rewrite line 2 " \
                                       "(left for the next run)"


def test_missing_final_newline_and_subfolder_diff_applies(project):
    code = MODULE.rstrip("\n").replace("PyMODINIT_FUNC", "/* end */\nPyMODINIT_FUNC")
    project.write({"src/spam.c": code})
    p = project.root / "src" / "spam.c"
    p.write_bytes(p.read_bytes().rstrip(b"\n"))
    rc, diff, err = project.fix()
    assert "--- a/src/spam.c" in diff
    git_apply_check(project.root, diff)
    rc, diff2, err = project.fix("--root", "src")
    assert "--- a/spam.c" in diff2
    git_apply_check(project.root / "src", diff2)


def test_diff_when_the_edit_touches_the_last_line(project, tmp_path):
    path = tmp_path / "x.c"
    path.write_bytes(b"int a;\nint b;")
    old = path.read_bytes()
    new = apply_edits(old, [Edit(str(path), len(old), len(old), " /* end */")])
    from extmigrate.fix.patch import FilePatch
    diff = unified_diff(FilePatch(str(path), old, new), str(tmp_path))
    assert diff.endswith("-int b;\n\\ No newline at end of file\n+int b; /* end */\n"
                         "\\ No newline at end of file\n")
    git_apply_check(tmp_path, diff)


def test_crlf_inserted_text_follows_the_file(tmp_path):
    data = b"a\r\nb\r\n"
    assert apply_edits(data, [Edit("x", 3, 3, "x\ny\n")]) == b"a\r\nx\r\ny\r\nb\r\n"
    assert apply_edits(b"a\nb\n", [Edit("x", 2, 2, "x\n")]) == b"a\nx\nb\n"


def test_check_compile_reports_and_blocks_the_write(project):
    from tests.fix.conftest import python_headers
    project.write({"spam.c": MODULE})
    rc, diff, err = project.fix("--check-compile")
    assert "no Python headers found" not in err  # the running interpreter's, at least
    assert "compiled: spam.c (" in err and "compile check failed" not in err
    broken = MODULE.replace("return 0; }", "return undefined_name; }")
    project.write({"spam.c": broken})  # broken before any fix: not the fix's fault, not checked
    rc, out, err = project.fix("--select", "FT201", "--check-compile")
    assert "not checked, it does not compile here without the fixes either" in err
    assert "undefined_name" in err and "compile check failed" not in err
    old = python_headers((3, 14))
    if old is None:
        pytest.skip("only Python 3.14+ headers here: none lacks PyUnstable_Object_IsUniquelyReferenced")
    # Claiming 3.14 as the oldest Python leaves out the compat header: older headers then lack the API.
    project.write({"uniq.cpp": """\
        #include <Python.h>
        static int unique(PyObject *o) { return Py_REFCNT(o) == 1; }
        int use_it(PyObject *o) { return unique(o); }
    """})
    before = project.read("uniq.cpp")
    rc, out, err = project.fix("--select", "FT501", "--min-python", "3.14", "--check-compile",
                               "--python-headers", old, "--apply")
    assert rc == 1
    assert "compile check failed: " in err and "PyUnstable_Object_IsUniquelyReferenced" in err
    assert "nothing written" in err
    assert project.read("uniq.cpp") == before


def test_check_compile_uses_the_compile_database_compiler(project):
    import json
    import shutil
    if shutil.which("gcc") is None:
        pytest.skip("no gcc")
    project.write({"spam.c": MODULE})
    wrapper = project.root / "mycc"
    wrapper.write_text("#!/bin/sh\necho used-db-compiler >&2\nexec gcc \"$@\"\n")
    wrapper.chmod(0o755)
    from extmigrate.flags import python_paths
    db = [{"directory": str(project.root), "file": "spam.c",
           "arguments": [str(wrapper), "-I", python_paths(None)["include"], "-c", "spam.c"]}]
    (project.root / "compile_commands.json").write_text(json.dumps(db))
    rc, diff, err = project.fix("--check-compile", "-p", str(project.root))
    assert "compiled: spam.c (" in err and "compile check failed" not in err
    (project.root / "mycc").write_text("#!/bin/sh\necho from-db-compiler >&2\nexit 1\n")
    rc, diff, err = project.fix("--check-compile", "-p", str(project.root))
    assert "not checked" in err and "from-db-compiler" in err
