"""Reproduce docs/migrations.md: real packages migrated by extmigrate, built and tested free-threaded.

For each pinned sdist (the last release before the package shipped free-threaded wheels; fetched by URL
from PyPI and checked against its sha256 with benchmarks/corpus.py, never built to download it):
unpack it twice (baseline/ and patched/), `scan` patched/, `fix --apply --unsafe-fixes` there, scan
again, then `verify patched/ --python PY --threads 4 --baseline baseline/`. The sdists' builds and
tests run only inside `verify` (pip wheel, pytest), in fresh venvs.

    python scripts/migrations.py --python python3.14t            # all; writes docs/migrations.md
    python scripts/migrations.py --python python3.14t --only lru-dict --no-write
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import corpus  # noqa: E402  (download + sha256 + safe unpack)

WORK = corpus.CACHE.parent / "extmigrate-migrations"
DOC = ROOT / "docs" / "migrations.md"
# Test extras are not installed (some pull in coverage tooling); each package names what its tests import.
NO_COV = ("-o", "addopts=")  # pytest: drop the package's addopts (--cov ... needs pytest-cov)


@dataclass(frozen=True)
class Package:
    name: str
    version: str       # the last release without free-threaded (cp3XXt) wheels
    sha256: str        # of the sdist
    first_ft: str      # the release that first shipped cp3XXt wheels
    requirements: tuple = ()
    pytest_args: tuple = ()
    tests: tuple = ()
    ignore_requires_python: bool = False  # its requires-python predates 3.14: a manual step, listed
    timeout: int = 900                    # per build and per test run
    thread_unsafe: tuple = ()             # fixtures / dotted functions whose tests run in one thread (both trees)
    hypothesis_one_thread: bool = False   # Hypothesis tests in one thread (both trees)
    deselect: tuple = ()                  # tests left out in both trees (each named in the notes, with why)

    @property
    def sdist(self) -> corpus.Sdist:
        return corpus.Sdist(self.name, self.version, self.sha256)


PACKAGES = (
    Package("lru-dict", "1.3.0", "54fd1966d6bd1fcde781596cb86068214edeebff1db13a2cea11079e3fd07b6b", "1.4.1"),
    Package("rjsmin", "1.2.2", "8c1bcd821143fecf23242012b55e13610840a839cd467b358f16359010d62dae", "1.2.3",
            requirements=("pytest-mock",), pytest_args=NO_COV),
    Package("rcssmin", "1.1.2", "bc75eb75bd6d345c0c51fd80fc487ddd6f9fd409dd7861b3fe98dee85018e1e9", "1.1.3",
            requirements=("pytest-mock",), pytest_args=NO_COV),
    Package("inflate64", "1.0.3", "a89edd416c36eda0c3a5d32f31ff1555db2c5a3884aa8df95e8679f8203e12ee", "1.0.4",
            pytest_args=NO_COV, ignore_requires_python=True),
    Package("pybcj", "1.0.6", "70bbe2dc185993351955bfe8f61395038f96f5de92bb3a436acb01505781f8f2", "1.0.7",
            requirements=("hypothesis",), pytest_args=NO_COV),
    Package("pyppmd", "1.2.0", "cc04af92f1d26831ec96963439dfb27c96467b5452b94436a6af696649a121fd", "1.3.1",
            requirements=("hypothesis", "pytest-benchmark", "pytest-timeout"), pytest_args=NO_COV, timeout=300,
            hypothesis_one_thread=True, thread_unsafe=("benchmark",)),
    Package("ijson", "3.3.0", "7f172e6ba1bee0d4c8f8ebd639577bfe429dee0f3f96775a067b8bae4492d8a0", "3.4.0",
            tests=("test",)),
    Package("cbor2", "5.9.0", "85c7a46279ac8f226e1059275221e6b3d0e370d2bb6bd0500f9780781615bcea", "6.0.0rc1",
            requirements=("hypothesis",), pytest_args=NO_COV),
    Package("hiredis", "3.2.1", "5a5f64479bf04dd829fe7029fad0ea043eac4023abc6e946668cbbec3493a78d", "3.3.0",
            thread_unsafe=("reader",)),
    Package("python-rapidjson", "1.21", "4d0dd9cf1fcb6f4bf79ee606e6e9be4cfa598f273b91338a6974b6a99309a1e6",
            "1.22", requirements=("pytz",), thread_unsafe=("sys.setrecursionlimit", "tracemalloc.start"),
            deselect=("tests/test_refs_count.py::test_endarray_leak", "tests/test_memory_leaks.py")),
    Package("bitstruct", "8.21.0", "ff0be4968a45caf8688e075f55cca7a3fe9212b069ba67e5b27b0926a11948ac",
            "8.22.0"),
)

# What the results come from, read in the logs and the sources (docs/migrations.md, Notes).
NOTES = {
    "lru-dict": (
        'every finding fixed mechanically: its methods run in a critical section on the object, the module '
        'declares Py_MOD_GIL_NOT_USED.'
    ),
    "inflate64": (
        "the two FT101 left are PyList_GET_ITEM on the output buffer's own block list "
        '(_blocks_output_buffer.h, created by the buffer and never published); the fix declines them (taken '
        'in a loop / in a nested block), so the declaration is withheld. requires-python is <3.14 in this '
        'release.'
    ),
    "pybcj": (
        'its ACQUIRE_LOCK macro waits for a PyThread lock with the thread state detached and re-attaches '
        'inside the macro; FT511 reported every C-API call after it (15 findings) until that was fixed '
        '(a macro that detaches and re-attaches is balanced).'
    ),
    "pyppmd": (
        "fix rewrote src/lib/buffer/blockoutput.h (PyList_GET_ITEM + Py_INCREF to PyList_GetItemRef) but "
        "added no compat include there ('includes neither Python.h nor any other header'), although the "
        "header is only included by _ppmdmodule.c after Python.h: on 3.9-3.12 (requires-python >=3.9) "
        "PyList_GetItemRef is then undeclared. The module was declared GIL-free while two FT101 were left "
        "in that header, so the scan after the fix reports FT205. tests/test_fuzzer.py spins in the bundled "
        "Ppmd8.c (CutOff/SwapStates; gdb: two threads, each with its own encoder) in both trees, so neither "
        "test run ended within 300 s."
    ),
    "ijson": (
        'the FT101 left is `M1_N(last = PyList_GetItem(builder->value_stack, n))` in yajl2_c/builder.h: an '
        "assignment inside a macro argument, declined as 'the borrowed reference is stored'; it blocks the "
        'declaration.'
    ),
    "cbor2": (
        'its C extension does not compile for free-threaded 3.14 in either tree (source/module.c:90 and :143 '
        "initialise a static PyObject positionally, `{ _PyObject_EXTRA_INIT 1, &type }`: 'initializer element "
        "is not computable at load time'); the extension is optional, so setuptools built a pure-Python "
        'cp314t wheel and all 373 C-backend tests were skipped. No rule reports this; verify now fails such a '
        'wheel.'
    ),
    "hiredis": (
        'vendor/hiredis is the bundled hiredis C library. fix edited vendor/hiredis/test.c, the bundled C '
        "library's standalone test program (no Python.h): compat include, a PyMutex and "
        'EXTMIGRATE_ATOMIC_ADD; the scan after the fix reports more (14) because that file now includes '
        'Python.h through the compat header. The build does not compile that file. The FT514 left '
        '(reader.c:109, PyList_SET_ITEM into the reply list the reader is still filling) blocks the '
        'declaration. test_len and test_dict_with_unhashable_key fail in both trees: pytest-run-parallel '
        'gives the 4 threads one shared `reader` fixture.'
    ),
    "python-rapidjson": (
        "rapidjson/ holds the bundled RapidJSON C++ headers. The baseline's pytest died without a report "
        "(exit 1): a RecursionError inside pytest's own failure reporting, from test_circular's "
        "recursion-limit test run in 4 threads; the patched run ended with 4 failures, all in tests that "
        "are not thread-safe as written (gc.collect, reference-count asserts, the recursion limit). The "
        "three FT104 are loops that return (declined), and they block the declaration."
    ),
    "bitstruct": (
        "left: FT102 in a loop, FT101 inside larger expressions, and three FT102 whose fix 'conflicts with "
        "the fix for FT102' earlier in the same function; they block the declaration."
    ),
}

_NOT_FIXED = re.compile(r"^(?P<path>.+?):\d+:\d+: (?P<code>FT\d{3}) not fixed: (?P<reason>.*)$")


def extmigrate(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "extmigrate", *args], capture_output=True, text=True, cwd=cwd)


def scan(tree: Path) -> dict:
    proc = extmigrate("scan", "--no-config", "--format", "json", ".", cwd=tree)
    return json.loads(proc.stdout)


def reason_kind(reason: str) -> str:
    """A 'not fixed' reason without its names and numbers, to group leftovers."""
    reason = re.sub(r"'[^']*'", "X", reason)
    reason = re.sub(r"\(.*", "", reason)
    return re.sub(r"\d+", "N", reason).strip(" :;")


def migrate(pkg: Package, python: str, threads: int) -> dict:
    src = corpus.unpack(pkg.sdist)
    work = WORK / f"{pkg.name}-{pkg.version}"
    shutil.rmtree(work, ignore_errors=True)
    base, patched = work / "baseline", work / "patched"
    shutil.copytree(src, base)
    shutil.copytree(src, patched)
    before = scan(patched)
    fix = extmigrate("fix", "--no-config", "--apply", "--unsafe-fixes", ".", cwd=patched)
    (work / "fix.log").write_text(fix.stdout + fix.stderr)
    after = scan(patched)
    not_fixed = [m.groupdict() for m in map(_NOT_FIXED.match, (fix.stdout + fix.stderr).splitlines()) if m]
    diff = subprocess.run(["diff", "-ruN", "baseline", "patched"], capture_output=True, text=True, cwd=work).stdout
    (work / "migration.diff").write_text(diff)
    cmd = ["verify", str(patched), "--python", python, "--threads", str(threads), "--baseline", str(base),
           "--workdir", str(work / "verify"), "--format", "json", "--no-test-extra", f"--timeout={pkg.timeout}"]
    cmd += [f"--with={r}" for r in pkg.requirements] + [f"--pytest-arg={a}" for a in pkg.pytest_args]
    cmd += [f"--tests={t}" for t in pkg.tests] + (["--ignore-requires-python"] if pkg.ignore_requires_python else [])
    cmd += [f"--thread-unsafe={n}" for n in pkg.thread_unsafe]
    cmd += ["--pytest-arg=--mark-hypothesis-as-unsafe"] if pkg.hypothesis_one_thread else []
    cmd += [f"--pytest-arg=--deselect={t}" for t in pkg.deselect]
    proc = extmigrate(*cmd, cwd=work)
    try:
        verified = json.loads(proc.stdout)
    except ValueError:
        verified = {"ok": False, "problems": [(proc.stderr.strip().splitlines() or ["verify gave no report"])[-1]]}
    return {
        "package": f"{pkg.name} {pkg.version}", "first_ft": pkg.first_ft,
        "manual": manual_steps(pkg),
        "findings": before["summary"]["findings"], "by_rule": before["summary"]["by_rule"],
        "fixable": sum(f["fixable"] for f in before["findings"]),
        "fixed": int((re.search(r"(\d+) finding\(s\) fixed", fix.stdout + fix.stderr) or [0, 0])[1]),
        "left": after["summary"]["findings"], "left_by_rule": after["summary"]["by_rule"],
        "not_fixed": dict(Counter(f"{n['code']}: {reason_kind(n['reason'])}" for n in not_fixed)),
        "diff_lines": sum(1 for ln in diff.splitlines() if ln[:1] in "+-" and ln[:3] not in ("+++", "---")),
        "verify": verified, "exit": proc.returncode,
    }


def manual_steps(pkg: Package) -> list[str]:
    """The verify options a package needed beyond the defaults, each a documented manual step."""
    steps = ["--ignore-requires-python"] if pkg.ignore_requires_python else []
    steps += [f"--thread-unsafe={n}" for n in pkg.thread_unsafe]
    steps += ["--pytest-arg=--mark-hypothesis-as-unsafe"] if pkg.hypothesis_one_thread else []
    return steps + [f"--pytest-arg=--deselect={t}" for t in pkg.deselect]


def _tests(tree: dict) -> str:
    t = tree.get("tests")
    if not t:
        return "timed out" if "no result within" in (tree.get("error") or "") else "not run"
    if t.get("stopped"):
        return f"pytest stopped ({t['stopped']}) after {t['passed']}/{t['collected']} passed"
    if t["crashed"]:
        return f"crashed (exit {t['returncode']})"
    return f"{t['passed']}/{t['collected']} passed" + (f", {t['failed'] + t['error']} failed" if
                                                       t['failed'] + t['error'] else "")


def row(r: dict) -> str:
    v = r["verify"]
    proj, base = v.get("project") or {}, v.get("baseline") or {}
    built = ("yes" if proj.get("extension_modules") else "without its extension" if proj.get("wheel")
             else f"no ({proj.get('failed_step')})")
    gil = ("n/a" if not proj.get("imports") else
           "no: " + ", ".join(i["module"] for i in proj["imports"] if i["enabled_gil"])
           if any(i["enabled_gil"] for i in proj["imports"]) else "yes")
    left = ", ".join(f"{c} {n}" for c, n in sorted(r["left_by_rule"].items())) or "-"
    fixed = r["fixed"]
    new = r["left"] - (r["findings"] - fixed)  # findings the patched tree has that the original had not
    if new > 0:
        left += f" ({new} new after the fix)"
    problems = [re.sub(r" \((?:log|see):? [^)]*\)", "", p) for p in v.get("problems", [])]  # no local paths
    verdict = "verified" if v.get("ok") else "; ".join(problems)[:300]
    manual = ", ".join(f"`{m}`" for m in r["manual"]) or "-"
    return (f"| {r['package']} ({r['first_ft']}) | {r['findings']} | {fixed} | {left} | {built} | {gil} | "
            f"{_tests(base)} | {_tests(proj)} | {manual} | {verdict} |")


def render(results: list[dict], python: str, threads: int) -> str:
    head = ["# Migrations of real packages", "",
            "Reproduce with `python scripts/migrations.py --python python3.14t` (fetches the pinned sdists, "
            "their sha256 checked; builds and tests run only inside `extmigrate verify`). Each package is "
            "its last release before it shipped free-threaded wheels (the release that first did is in brackets). "
            f"Steps: `scan`, `fix --apply --unsafe-fixes`, `scan` again, `verify --threads {threads} --baseline "
            f"<unpatched copy>` with a free-threaded CPython {python}. Tests: before = the unpatched "
            f"build, after = the patched one, both with PYTHON_GIL=0 and {threads} threads per test "
            "(pytest-run-parallel). Rerun it after a change to the rules or the fixes: the table is what "
            "the code did when it was written.", "",
            "| package | findings | fixed | left (by rule) | patched wheel builds | GIL stays off | "
            "tests before | tests after | manual steps | verify |",
            "| --- | ---: | ---: | --- | --- | --- | --- | --- | --- | --- |"]
    ok = [r["package"] for r in results if r["verify"].get("ok")]
    lines = head + [row(r) for r in results]
    lines += ["", f"`verify` passes (wheel with its extensions, GIL off, every test passing in {threads} threads, "
              f"nothing lost against the unpatched build) for {len(ok)} of {len(results)}: {', '.join(ok)}."]
    lines += ["", "## Why findings were left (`fix` output, grouped)", ""]
    for r in results:
        reasons = "; ".join(f"{k} (x{n})" for k, n in sorted(r["not_fixed"].items())) or "none reported"
        lines.append(f"- **{r['package']}**: {reasons}")
    lines += ["", "## Notes", ""]
    for r in results:
        name = r["package"].split()[0]
        if name in NOTES:
            lines.append(f"- **{r['package']}**: {NOTES[name]}")
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--python", required=True, help="a free-threaded interpreter, e.g. python3.14t")
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--only", action="append", help="package name (repeatable)")
    ap.add_argument("--no-write", action="store_true", help="print the rows, do not write docs/migrations.md")
    ap.add_argument("--render", action="store_true", help="only write docs/migrations.md from the last results")
    args = ap.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    for pkg in PACKAGES:
        if args.render or (args.only and pkg.name not in args.only):
            continue
        print(f"{pkg.name} {pkg.version} ...", file=sys.stderr, flush=True)
        r = migrate(pkg, args.python, args.threads)
        (WORK / f"{pkg.name}.json").write_text(json.dumps(r, indent=2))
        print(row(r), flush=True)
    if not args.no_write:  # from every package's latest result, so that --only reruns compose
        results = [json.loads(p.read_text()) for p in (WORK / f"{pkg.name}.json" for pkg in PACKAGES)
                   if p.is_file()]
        version = subprocess.run([args.python, "-c", "import sys; print(sys.version.split()[0])"],
                                 capture_output=True, text=True).stdout.strip()
        DOC.write_text(render(results, version, args.threads))
    return 0


if __name__ == "__main__":
    sys.exit(main())
