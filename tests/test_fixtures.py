"""Rule fixtures: real C files with their expected findings marked inline (like clang-tidy's
CHECK-MESSAGES and ruff's fixture files), scanned with every discovered Python's headers and once
with -DPy_GIL_DISABLED=1.

Layout: tests/fixtures/<rule_module_name>/<case>.c (.cpp, .h) is one file scanned alone;
tests/fixtures/<rule_module_name>/<case>/ is a folder scanned as one project.

- `// expect: FT101` on the line where a finding starts (several: `// expect: FT101 FT104`; with a
  column: `FT101@12`). Every finding of the selected rules must match an expectation on its line,
  and every expectation must be matched.
- Header comments in the first lines (of the file; of any file of a folder case):
  `// fixture: select=FT101,FT104` (default: the folder's rule code), `// fixture: flags=-DHAVE_FOO
  -I inc` (-D, -U, -I; -I relative to the fixture's folder), `// fixture: parse-errors=allowed`
  (otherwise a parse error fails the fixture), `// fixture: requires=3.13` (code using that
  version's C API: with older headers it is still scanned and checked, parse errors allowed).
- A negative twin `<case>_ok.c` sits beside each positive case and expects nothing.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from extmigrate.rules import all_rules
from extmigrate.scan import ScanOptions, scan
from tests.conftest import header_configs

FIXTURES = Path(__file__).resolve().parent / "fixtures"
SUFFIXES = (".c", ".cc", ".cpp", ".cxx", ".h", ".hpp")
HEADER_LINES = 10  # `// fixture:` comments are read from this many first lines

_EXPECT = re.compile(r"(?://|/\*)\s*expect:\s*((?:FT\d+(?:@\d+)?[\s,]*)+)")
_TOKEN = re.compile(r"(FT\d+)(?:@(\d+))?")
_HEADER = re.compile(r"(?://|/\*)\s*fixture:\s*([\w-]+)\s*=\s*(.*?)\s*(?:\*/)?\s*$")


@dataclass
class Fixture:
    path: Path  # a file, or a folder scanned as one project
    rule: str  # tests/fixtures/<rule>/
    select: list[str] = field(default_factory=list)
    defines: list[str] = field(default_factory=list)
    undefines: list[str] = field(default_factory=list)
    include_dirs: list[str] = field(default_factory=list)
    parse_errors_allowed: bool = False
    requires: tuple[int, int] = (0, 0)
    # (file relative to the fixture folder, line) -> [(code, column or None)]
    expected: dict[tuple[str, int], list[tuple[str, int | None]]] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"{self.rule}/{self.path.name}"

    def files(self) -> list[Path]:
        if self.path.is_file():
            return [self.path]
        return sorted(p for p in self.path.rglob("*") if p.is_file() and p.suffix in SUFFIXES)

    def rel(self, file: str | Path) -> str:
        base = self.path.parent if self.path.is_file() else self.path
        try:
            return Path(file).resolve().relative_to(base.resolve()).as_posix()
        except ValueError:
            return str(file)


def rule_codes() -> dict[str, str]:
    """Rule module name (the fixture folder's name) -> its code."""
    return {r.__module__.rsplit(".", 1)[-1]: r.code for r in all_rules()}


def _header(fx: Fixture, key: str, value: str, where: str) -> None:
    if key == "select":
        fx.select = [c.strip() for c in value.split(",") if c.strip()]
    elif key == "parse-errors":
        if value != "allowed":
            raise ValueError(f"{where}: parse-errors= takes only 'allowed', not {value!r}")
        fx.parse_errors_allowed = True
    elif key == "requires":
        if not re.fullmatch(r"3\.\d+", value):
            raise ValueError(f"{where}: requires= takes a version like 3.13, not {value!r}")
        fx.requires = (3, int(value.split(".")[1]))
    elif key == "flags":
        args = shlex.split(value)
        i = 0
        while i < len(args):
            a = args[i]
            opt, val = (a, args[i + 1]) if a in ("-D", "-U", "-I") and i + 1 < len(args) else (a[:2], a[2:])
            i += 2 if a in ("-D", "-U", "-I") else 1
            if opt == "-D":
                fx.defines.append(val)
            elif opt == "-U":
                fx.undefines.append(val)
            elif opt == "-I":
                base = fx.path.parent if fx.path.is_file() else fx.path
                fx.include_dirs.append(str((base / val).resolve()))
            else:
                raise ValueError(f"{where}: flags= takes -D, -U and -I only, not {a!r}")
    else:
        raise ValueError(f"{where}: unknown fixture header {key!r} (select, flags, parse-errors, requires)")


def load(path: Path, rule: str, code: str | None) -> Fixture:
    """Read a fixture's headers and expectations; ValueError names the file and line of a bad one."""
    fx = Fixture(path, rule, select=[code] if code else [])
    for file in fx.files():
        for n, line in enumerate(file.read_text(errors="replace").splitlines(), 1):
            where = f"{fx.rel(file)}:{n}"
            m = _HEADER.search(line)
            if m and n <= HEADER_LINES:
                _header(fx, m.group(1), m.group(2), where)
            elif m:
                raise ValueError(f"{where}: a `fixture:` header must be in the first {HEADER_LINES} lines")
            m = _EXPECT.search(line)
            if m:
                fx.expected[(fx.rel(file), n)] = [(c, int(col) if col else None)
                                                  for c, col in _TOKEN.findall(m.group(1))]
            elif re.search(r"\bexpect:", line):
                raise ValueError(f"{where}: cannot read this expectation (`// expect: FT101 FT104@12`)")
    if not fx.select:
        raise ValueError(f"{fx.id}: folder {rule!r} is no rule module name; add `// fixture: select=...`")
    return fx


def compare(fx: Fixture, findings) -> list[str]:
    """Mismatches between the fixture's expectations and the findings, one line each."""
    got: dict[tuple[str, int], list] = {}
    for f in findings:
        got.setdefault((fx.rel(f.path), f.line), []).append(f)
    problems = []
    for key in sorted(set(got) | set(fx.expected)):
        want = list(fx.expected.get(key, []))
        unmatched = []
        for f in got.get(key, []):
            hit = next((w for w in want if w[0] == f.code and w[1] in (None, f.column)), None)
            if hit:
                want.remove(hit)
            else:
                unmatched.append(f)
        where = f"{key[0]}:{key[1]}"
        for f in unmatched:
            problems.append(f"{where}: unexpected {f.code}@{f.column} {f.symbol!r}: {f.message}")
        for c, col in want:
            problems.append(f"{where}: expected {c}{'@' + str(col) if col else ''}, got "
                            f"{' '.join(f'{f.code}@{f.column}' for f in got.get(key, [])) or 'nothing'}")
    return problems


def collect() -> list[Fixture]:
    codes = rule_codes()
    out = []
    for folder in sorted(p for p in FIXTURES.iterdir() if p.is_dir()) if FIXTURES.is_dir() else []:
        for case in sorted(folder.iterdir()):
            if case.is_dir() or case.suffix in SUFFIXES:
                out.append(load(case, folder.name, codes.get(folder.name)))
    return out


def scan_fixture(fx: Fixture, python: str | None, gil_disabled: bool):
    opts = ScanOptions(paths=[str(fx.path)], select=fx.select, python=python, gil_disabled=gil_disabled,
                       defines=fx.defines, undefines=fx.undefines, include_dirs=fx.include_dirs, jobs=1)
    return scan(opts)


def check(fx: Fixture, python: str | None, gil_disabled: bool, version: tuple[int, int] = (99, 0),
          errors_ok: bool = False) -> list[str]:
    """Everything wrong with one run of one fixture (empty when it passes); `errors_ok`: the
    headers cannot parse it cleanly (see header_configs)."""
    res = scan_fixture(fx, python, gil_disabled)
    problems = [f"{fx.rel(p)}: {msg}" for p, msg in res.problems]
    if res.files_with_errors and not (fx.parse_errors_allowed or errors_ok) and version >= fx.requires:
        errs = [d for d in res.diagnostics if d.severity in ("error", "fatal")]
        problems += [f"parse error {fx.rel(d.path)}:{d.line}:{d.column}: {d.message}" for d in errs[:5]]
        problems.append("(a fixture must parse cleanly; `// fixture: parse-errors=allowed` if on purpose)")
    return problems + compare(fx, res.findings)


FIXTURE_LIST = collect()
CONFIGS = header_configs()


@pytest.mark.parametrize("config", CONFIGS, ids=[c.id for c in CONFIGS])
@pytest.mark.parametrize("fx", FIXTURE_LIST, ids=[f.id for f in FIXTURE_LIST])
def test_fixture(fx, config):
    problems = check(fx, config.python, config.gil_disabled, config.version, config.parse_errors_ok)
    assert not problems, f"{fx.id} with {config.id} headers:\n  " + "\n  ".join(problems)


def test_every_positive_fixture_has_a_negative_twin():
    cases = {f.path.with_suffix("") if f.path.is_file() else f.path for f in FIXTURE_LIST}
    lonely = [f.id for f in FIXTURE_LIST
              if f.expected and not f.path.stem.endswith("_ok")
              and f.path.with_name(f.path.stem + "_ok") not in cases]
    assert not lonely, f"positive fixtures without a `<case>_ok` twin: {lonely}"
    silent = [f.id for f in FIXTURE_LIST if f.path.stem.endswith("_ok") and f.expected]
    assert not silent, f"negative twins must expect nothing: {silent}"


def test_every_fixture_folder_is_a_rule_or_selects():
    codes = rule_codes()
    for f in FIXTURE_LIST:
        assert f.rule in codes or f.select, f.id


# -- the driver itself, on fixtures written here ------------------------------------------------

SRC = """\
// fixture: select=FT101
#include <Python.h>
static PyObject *first(PyObject *list) {
    PyObject *item = PyList_GetItem(list, 0);  // expect: FT101
    Py_XINCREF(item);
    return item;
}
"""


def _one(tmp_path: Path, text: str, name: str = "case.c") -> Fixture:
    p = tmp_path / "borrowed_list_item" / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text)
    return load(p, "borrowed_list_item", rule_codes().get("borrowed_list_item"))


def test_driver_passes_a_right_fixture(tmp_path):
    assert check(_one(tmp_path, SRC), None, False) == []


def test_driver_names_a_missing_and_an_unexpected_finding(tmp_path):
    text = SRC.replace("  // expect: FT101", "") + "static int x;  // expect: FT101\n"
    problems = check(_one(tmp_path, text), None, False)
    assert problems == [
        "case.c:4: unexpected FT101@22 'PyList_GetItem(list)': " + problems[0].split(": ", 2)[2],
        "case.c:8: expected FT101, got nothing",
    ]


def test_driver_checks_columns_and_counts(tmp_path):
    assert check(_one(tmp_path, SRC.replace("expect: FT101", "expect: FT101@22")), None, False) == []
    wrong = check(_one(tmp_path, SRC.replace("expect: FT101", "expect: FT101@5")), None, False)
    assert wrong[0].startswith("case.c:4: unexpected FT101@22") and wrong[1] == \
        "case.c:4: expected FT101@5, got FT101@22"
    twice = check(_one(tmp_path, SRC.replace("expect: FT101", "expect: FT101 FT101")), None, False)
    assert twice == ["case.c:4: expected FT101, got FT101@22"]


def test_driver_fails_on_a_parse_error_unless_allowed(tmp_path):
    # the error sits outside the function: a finding inside a broken body is low-confidence, not counted
    broken = SRC + "static int broken = undeclared_thing;\n"
    problems = check(_one(tmp_path, broken), None, False)
    assert any(p.startswith("parse error case.c:8:") for p in problems), problems
    allowed = check(_one(tmp_path, "// fixture: parse-errors=allowed\n" + broken), None, False)
    assert allowed == []


def test_driver_reads_flags_and_rejects_bad_headers(tmp_path):
    text = ("// fixture: flags=-DWANT_IT -I inc\n" + SRC.replace("  // expect: FT101", "")
            + "#include \"extra.h\"\n#ifdef WANT_IT\n"
            "static PyObject *g(PyObject *l) { return PyList_GetItem(l, EXTRA); }\n#endif\n")
    (tmp_path / "borrowed_list_item" / "inc").mkdir(parents=True)
    (tmp_path / "borrowed_list_item" / "inc" / "extra.h").write_text("#define EXTRA 1\n")
    fx = _one(tmp_path, text)
    assert fx.defines == ["WANT_IT"] and fx.include_dirs[0].endswith("inc")
    problems = check(fx, None, False)
    assert [p.split(" '")[0] for p in problems] == ["case.c:5: unexpected FT101@22",
                                                    "case.c:11: unexpected FT101@42"], problems
    fx.include_dirs = []  # extra.h not found: a parse error
    assert any(p.startswith("parse error case.c:9:") for p in check(fx, None, False))
    with pytest.raises(ValueError, match=r"case.c:1: flags= takes -D, -U and -I only"):
        _one(tmp_path, "// fixture: flags=-O2\n" + SRC)
    with pytest.raises(ValueError, match=r"case.c:1: unknown fixture header 'colour'"):
        _one(tmp_path, "// fixture: colour=red\n" + SRC)
    with pytest.raises(ValueError, match=r"case.c:2: cannot read this expectation"):
        _one(tmp_path, "int a;\nint b; // expect: everything\n")


def test_driver_allows_parse_errors_below_the_required_version(tmp_path):
    text = "// fixture: requires=3.99\n" + SRC.replace("Py_XINCREF(item);", "Py_FutureLock(item);")
    fx = _one(tmp_path, text)
    assert fx.requires == (3, 99)
    assert check(fx, None, False, (3, 98)) == []  # older headers: scanned, findings still checked
    assert any(p.startswith("parse error case.c:6:") for p in check(fx, None, False, (3, 99)))
    wrong = check(_one(tmp_path, text.replace("  // expect: FT101", "")), None, False, (3, 98))
    assert [p.split(" '")[0] for p in wrong] == ["case.c:5: unexpected FT101@22"]
