"""Compile flags: compile_commands.json reading, flag filtering, guessed header folders."""

from __future__ import annotations

import json
import os
import sys

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from extmigrate.flags import filter_args, header_dir_flags, load_database


def write_db(folder, content) -> str:
    path = os.path.join(folder, "compile_commands.json")
    with open(path, "wb") as f:
        f.write(content if isinstance(content, bytes) else json.dumps(content).encode())
    return path


def test_entries_resolve_relative_directories_and_files(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "m.c").write_text("int m;\n")
    db = write_db(tmp_path, [
        {"directory": "src", "file": "m.c", "command": "cc -Iinc -DX=1 -O2 -c m.c -o m.o"},
        {"directory": str(tmp_path), "file": "gone.c", "arguments": ["cc", "gone.c"]},
        {"file": "src/m.c"},
        "not an entry",
    ])
    specs, problems = load_database(db)
    [spec] = specs.values()
    assert spec.path == str(tmp_path / "src" / "m.c")
    assert spec.args == ["-x", "c", f"-I{tmp_path / 'src' / 'inc'}", "-DX=1"]
    assert [msg for _, msg in problems] == [
        f"entry 1: {tmp_path / 'gone.c'} does not exist",
        "entry 2: entry has neither 'arguments' nor 'command'",
        "entry 3: entry is not an object",
    ]


def test_unusable_databases_fall_back_to_default_flags(tmp_path):
    cases = {
        b"": "compile database is empty; using default flags",
        b"[]": "compile database is empty; using default flags",
        b"{not json": "invalid JSON in compile database",
        b'{"a": 1}': "compile database is not a JSON list; using default flags",
        b"[" * 100_000: "compile database is nested too deeply to read; using default flags",
        b"\xff\xfe[]": "invalid JSON in compile database",
    }
    for content, message in cases.items():
        specs, problems = load_database(write_db(tmp_path, content))
        assert specs == {}
        assert len(problems) == 1 and problems[0][1].startswith(message), content[:20]


def test_database_that_is_a_folder(tmp_path):
    (tmp_path / "compile_commands.json").mkdir()
    specs, problems = load_database(str(tmp_path / "compile_commands.json"))
    assert specs == {} and problems[0][1].startswith("cannot read compile database")


def test_filter_keeps_preprocessor_and_language_flags():
    argv = ["cc", "-I", "inc", "-isystem/sys", "-iquoteq", "-DA", "-U", "B", "-std=c11", "-O2", "-c",
            "-o", "x.o", "-fPIC", "-fprofile-arcs", "-MF", "dep.d", "x.c", "-isystem"]
    assert filter_args(argv, "/w") == ["-I", "/w/inc", "-isystem/sys", "-iquote/w/q", "-DA", "-U", "B",
                                       "-std=c11", "-fPIC"]


def test_header_folder_that_shadows_a_system_header_is_quote_only(tmp_path):
    (tmp_path / "msvc").mkdir()
    (tmp_path / "msvc" / "stdint.h").write_text("#error MSVC only\n")
    (tmp_path / "inc").mkdir()
    (tmp_path / "inc" / "mod.h").write_text("int m;\n")
    headers = [str(tmp_path / "msvc" / "stdint.h"), str(tmp_path / "inc" / "mod.h")]
    assert header_dir_flags(headers, [str(tmp_path)]) == [
        f"-I{tmp_path}", f"-iquote{tmp_path / 'msvc'}", f"-I{tmp_path / 'inc'}"]


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20)
ENTRY = st.fixed_dictionaries({}, optional={
    "directory": st.one_of(st.text(max_size=20), st.integers(), st.none()),
    "file": st.one_of(st.sampled_from(["m.c", "./m.c", "../x/m.c", ""]), st.text(max_size=20), st.integers()),
    "command": st.one_of(st.text(max_size=60), st.lists(st.text(max_size=5))),
    "arguments": st.one_of(st.lists(st.one_of(st.text(max_size=12), st.integers(), st.none()), max_size=8),
                           st.text(max_size=10)),
})


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(doc=st.one_of(JSON, st.lists(ENTRY, max_size=6), st.binary(max_size=200)))
def test_any_database_is_read_without_error(tmp_path, doc):
    (tmp_path / "m.c").write_text("int m;\n")
    content = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
    specs, problems = load_database(write_db(tmp_path, content))
    for spec in specs.values():
        assert os.path.isabs(spec.path) and os.path.isfile(spec.path)
        assert all(isinstance(a, str) for a in spec.args)
        assert "-x" in spec.args
    assert all(isinstance(m, str) and "\n" not in m for _, m in problems)


@settings(max_examples=300, deadline=None)
@given(argv=st.lists(st.one_of(st.sampled_from(["-I", "-D", "-x", "-isystem", "-include", "-o", "-c",
                                                "-iquote", "-std=c11", "-fPIC", "-U"]),
                               st.text(max_size=10)), max_size=12))
def test_filter_never_leaves_a_flag_without_its_value(argv):
    out = filter_args(["cc"] + argv, "/w")
    i = 0
    while i < len(out):
        if out[i] in ("-I", "-D", "-U", "-x", "-isystem", "-iquote", "-include", "-idirafter"):
            assert i + 1 < len(out), out
            i += 1
        i += 1


def test_numpy_include_of_this_interpreter_is_found_without_running_numpy(tmp_path, monkeypatch):
    """The scan's own interpreter: numpy's include folder comes from sys.path, numpy is not imported
    (its __init__ would fail here), and a numpy/ folder in the working directory does not count."""
    from extmigrate.flags import numpy_include
    from extmigrate.scan import ScanOptions, scan

    site = tmp_path / "site"
    inc = site / "numpy" / "_core" / "include"
    (inc / "numpy").mkdir(parents=True)
    (site / "numpy" / "__init__.py").write_text("raise SystemExit('numpy must not be imported')\n")
    (inc / "numpy" / "arrayobject.h").write_text("typedef struct { int nd; } PyArrayObject_fake;\n")
    work = tmp_path / "work"
    (work / "numpy").mkdir(parents=True)  # someone's checkout: not an installed numpy
    (work / "numpy" / "__init__.py").write_text("")
    monkeypatch.chdir(work)
    monkeypatch.setattr(sys, "path", [str(work), str(site)] + sys.path)
    assert numpy_include(None) == str(inc)
    (work / "ext.c").write_text('#include <Python.h>\n#include "numpy/arrayobject.h"\n'
                                "int nd(PyArrayObject_fake *a) { return a->nd; }\n")
    result = scan(ScanOptions(paths=[str(work / "ext.c")], jobs=1, select=["FT301"]))
    assert not result.files_with_errors, result.diagnostics
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p != str(site)])
    assert numpy_include(None) is None
