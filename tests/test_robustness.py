"""Bad input never crashes a scan (issue 7): one line naming the file, the scan goes on, and the exit
code stays that of the findings (2 only for usage or configuration errors)."""

from __future__ import annotations

import json
import os
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from extmigrate.cli import main
from extmigrate.model import Finding
from extmigrate.suppress import BaselineError, apply_suppressions, is_suppressed, read_baseline

# A real module with one FT201 finding: the exit code must stay 1 whatever else is in the tree.
GOOD = """\
#include <Python.h>
static int exec_mod(PyObject *m) { return 0; }
static PyModuleDef_Slot slots[] = {{Py_mod_exec, exec_mod}, {0, NULL}};
static struct PyModuleDef def = {PyModuleDef_HEAD_INIT, "good", NULL, 0, NULL, slots};
PyMODINIT_FUNC PyInit_good(void) { return PyModuleDef_Init(&def); }
"""

NESTED_MACROS = "#define A0(x) x\n" + "".join(
    f"#define A{i}(x) A{i - 1}(A{i - 1}(x))\n" for i in range(1, 18)) + "int v = A17(1);\n"
RECURSIVE_MACROS = "#define F(x) G(x)\n#define G(x) F(x)\nint r = F(1);\n#define SELF SELF + 1\nint s = SELF;\n"
DEEP_PARENS = "int d = " + "(" * 5000 + "1" + ")" * 5000 + ";\n"
DEEP_BRACES = "void f(void) " + "{" * 3000 + "}" * 3000 + "\n"


def scan_cli(tmp_path, capsys, *extra: str) -> tuple[int, str]:
    code = main(["scan", str(tmp_path), "--select", "FT201", "--no-cache", "--no-progress", "--no-config",
                 "-j", "2", *extra])
    out = capsys.readouterr()
    return code, out.out + out.err


def test_bad_sources_are_reported_and_the_scan_goes_on(tmp_path, capsys):
    rnd = random.Random(7)
    (tmp_path / "good.c").write_text(GOOD)
    (tmp_path / "random.c").write_bytes(bytes(rnd.randrange(256) for _ in range(20_000)))
    (tmp_path / "empty.c").write_bytes(b"")
    (tmp_path / "truncated.c").write_text(GOOD[: len(GOOD) // 2])
    (tmp_path / "garbled.c").write_text(GOOD.replace("{", "}").replace(";", "{"))
    (tmp_path / "nul.c").write_bytes(b"int a\0 = 1;\n\0\0\0static int b;\n")
    (tmp_path / "latin1.c").write_bytes("/* caf\u00e9 */\nstatic const char *s = \"\u00e9\";\n".encode("latin-1"))
    (tmp_path / "macros.c").write_text(NESTED_MACROS + RECURSIVE_MACROS)
    (tmp_path / "deep.c").write_text(DEEP_PARENS + DEEP_BRACES)
    (tmp_path / "header.h").write_bytes(b"\xff\xfe\x00garbage {{{{")
    with open(tmp_path / "generated.c", "wb") as f:  # 10 MB
        line = b"static const unsigned char blob[] = {" + b"0x00," * 40 + b"};\n"
        f.write(line * (10 * 2**20 // len(line) + 1))
    with open(os.path.join(os.fsencode(tmp_path), b"na\xefve.c"), "wb") as f:
        f.write(b"int n;\n")
    os.symlink("loop_b.c", tmp_path / "loop_a.c")
    os.symlink("loop_a.c", tmp_path / "loop_b.c")
    os.symlink("/proc/self/mem", tmp_path / "unreadable.c")  # EIO on read, even for root
    (tmp_path / "folder.c").mkdir()
    code, out = scan_cli(tmp_path, capsys)
    assert code == 1, out  # the FT201 finding in good.c
    assert "good.c:3:" in out and "FT201" in out
    assert "Traceback" not in out
    lines = out.splitlines()

    def line_for(name: str) -> str:
        hits = [ln for ln in lines if name in ln]
        assert len(hits) == 1, (name, out)
        return hits[0]

    assert "larger than 8 MB" in line_for("generated.c")
    assert "not valid UTF-8" in line_for("na\ufffdve.c") or "not valid UTF-8" in line_for("na")
    assert "symlink loop" in line_for("loop_a.c")
    assert "symlink loop" in line_for("loop_b.c")
    assert "cannot read" in line_for("unreadable.c")
    assert "file(s) had parse errors" in out


def test_bad_files_show_their_errors_with_verbose(tmp_path, capsys):
    (tmp_path / "good.c").write_text(GOOD)
    (tmp_path / "truncated.c").write_text(GOOD[: len(GOOD) // 2])
    code, out = scan_cli(tmp_path, capsys, "--verbose")
    assert code == 1
    assert any("truncated.c:" in ln and "error" in ln for ln in out.splitlines())


@pytest.mark.parametrize("db", ids=["empty", "not-json", "deep", "object", "missing-file", "rejected-flags",
                                    "bad-language", "bad-quoting"], argvalues=[
    b"",
    b"{ not json",
    b"[" * 5_000,
    b'{"not": "a list"}',
    json.dumps([{"directory": "no/such/dir", "file": "gone.c", "command": "cc -c gone.c"}]).encode(),
    json.dumps([{"directory": ".", "file": "good.c", "command": "cc -std=c99999 -march=nope -c good.c"}]).encode(),
    json.dumps([{"directory": ".", "file": "good.c", "arguments": ["cc", "-x", "cobol", "good.c"]}]).encode(),
    json.dumps([{"directory": ".", "file": "good.c", "command": "cc \"unbalanced good.c"}]).encode(),
])
def test_bad_compile_databases_never_stop_the_scan(tmp_path, capsys, db):
    (tmp_path / "good.c").write_text(GOOD)
    (tmp_path / "compile_commands.json").write_bytes(db)
    code, out = scan_cli(tmp_path, capsys)
    assert "Traceback" not in out
    # a database that names good.c with flags clang refuses still gets good.c analysed
    assert code in (0, 1)
    assert "compile_commands.json" in out or "good.c" in out


def test_rejected_flags_fall_back_to_include_paths_and_macros(tmp_path, capsys):
    (tmp_path / "good.c").write_text(GOOD)
    inc = os.path.dirname(os.path.dirname(os.__file__))  # any real folder
    entry = {"directory": str(tmp_path), "file": "good.c",
             "command": f"cc -std=c99999 -I{inc} -DX=1 -c good.c"}
    (tmp_path / "compile_commands.json").write_text(json.dumps([entry]))
    code, out = scan_cli(tmp_path, capsys, "--verbose")
    assert "clang refused this file's compile flags" in out
    assert "Traceback" not in out


def test_a_file_over_its_time_limit_is_named_and_the_rest_is_scanned(tmp_path, capsys):
    (tmp_path / "good.c").write_text(GOOD)
    (tmp_path / "slow.c").write_text(NESTED_MACROS + "".join(
        f"#define A{i}(x) A{i - 1}(A{i - 1}(x))\n" for i in (18, 19, 20)) + "int w = A20(1);\n")
    code, out = scan_cli(tmp_path, capsys, "--timeout", "0.01", "-j", "1")
    assert "Traceback" not in out
    timed = [ln for ln in out.splitlines() if "timed out after 0.01 s" in ln]
    assert timed and all(".c" in ln for ln in timed)


def test_usage_errors_exit_2(tmp_path, capsys):
    assert main(["scan", str(tmp_path / "missing"), "--no-config"]) == 2
    assert main(["scan", str(tmp_path), "--timeout", "0", "--no-config"]) == 2
    assert main(["scan", str(tmp_path), "--select", "FT999", "--no-config"]) == 2
    (tmp_path / "base.json").write_bytes(b"[" * 5_000)
    assert main(["scan", str(tmp_path), "--baseline", str(tmp_path / "base.json"), "--no-config"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("extmigrate: error:") == 4


# -- the suppression and baseline readers, over generated input -----------------------------------
def finding(line: int, code: str = "FT301") -> Finding:
    return Finding(code=code, name="static-mutable-global", category="static-state", severity="warning",
                   path="/x.c", line=line, column=1, end_line=line, end_column=2, function=None,
                   symbol="s", message="m", explanation="e", action="a")


@settings(max_examples=300, deadline=None)
@given(lines=st.lists(st.one_of(st.binary(max_size=80),
                                st.sampled_from([b"// extmigrate: ignore", b"/* extmigrate: ignore[FT301] */",
                                                 b"x; // extmigrate: ignore[", b"extmigrate:ignore[,,]",
                                                 b"* extmigrate: ignore[static-state, \xff]"])), max_size=6),
       line=st.integers(min_value=-2, max_value=9), code=st.sampled_from(["FT301", "FT101", "ALL"]))
def test_suppression_markers_in_any_bytes(lines, line, code):
    assert is_suppressed(finding(line, code), lines) in (True, False)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=st.binary(max_size=300))
def test_suppressions_read_any_file(tmp_path, content):
    path = tmp_path / "x.c"
    path.write_bytes(content)
    f = finding(1)
    f.path = str(path)
    kept, dropped = apply_suppressions([f])
    assert len(kept) + dropped == 1


BASELINE_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.sampled_from(["findings", "key", "count", "version", "x"]), inner, max_size=4),
    max_leaves=15)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(doc=st.one_of(BASELINE_JSON, st.binary(max_size=100),
                     st.just(b"[" * 5_000), st.just({"findings": [{"key": "k", "count": float("inf")}]})))
def test_baseline_reader_accepts_or_refuses_cleanly(tmp_path, doc):
    path = tmp_path / "baseline.json"
    path.write_bytes(doc if isinstance(doc, bytes) else json.dumps(doc).encode())
    try:
        keys = read_baseline(str(path))
    except BaselineError as e:
        assert str(e).startswith(("baseline", "cannot read baseline")) and "\n" not in str(e)
    else:
        assert all(isinstance(k, str) and isinstance(n, int) for k, n in keys.items())
