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
    scan_args: tuple = ()                 # flags for scan and fix (the `-I` the scan's missing-header notes name)

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
            requirements=("hypothesis", "pytest-benchmark", "pytest-timeout"), pytest_args=NO_COV, timeout=900,
            hypothesis_one_thread=True, thread_unsafe=("benchmark",)),
    Package("ijson", "3.3.0", "7f172e6ba1bee0d4c8f8ebd639577bfe429dee0f3f96775a067b8bae4492d8a0", "3.4.0",
            tests=("test",)),
    Package("cbor2", "5.9.0", "85c7a46279ac8f226e1059275221e6b3d0e370d2bb6bd0500f9780781615bcea", "6.0.0rc1",
            requirements=("hypothesis",), pytest_args=NO_COV),
    Package("hiredis", "3.2.1", "5a5f64479bf04dd829fe7029fad0ea043eac4023abc6e946668cbbec3493a78d", "3.3.0",
            thread_unsafe=("reader",), scan_args=("-I", "vendor")),
    Package("python-rapidjson", "1.21", "4d0dd9cf1fcb6f4bf79ee606e6e9be4cfa598f273b91338a6974b6a99309a1e6",
            "1.22", requirements=("pytz",), thread_unsafe=("sys.setrecursionlimit", "tracemalloc.start"),
            scan_args=("-I", "rapidjson/include"),
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
        'the three FT101 on the output buffer\'s block list (_blocks_output_buffer.h) are no longer reported: '
        'the list lives in a struct on the caller\'s stack that only this file\'s static helpers get (the '
        'output-buffer idiom; with 3.11 headers the nested Py_SIZE(PyList_GET_ITEM(...)) hid a read). '
        'requires-python is <3.14 in this release: `--ignore-requires-python`.'
    ),
    "pybcj": (
        'its ACQUIRE_LOCK macro waits for a PyThread lock with the thread state detached and re-attaches '
        'inside the macro; FT511 reported every C-API call after it (15 findings) until that was fixed '
        '(a macro that detaches and re-attaches is balanced).'
    ),
    "pyppmd": (
        'the FT101 in blockoutput.h\'s join loop (a `block` of the function, reused after the loop) gets '
        'the loop inside a critical section on the list; the single-block path gets PyList_GetItemRef. '
        'Tests: pytest-benchmark\'s `benchmark` fixture can be used once per test, so its tests run in one '
        'thread, and the Hypothesis fuzz tests too (in 4 threads, each with models up to 1 GiB, they ran '
        'for minutes in both trees); all run and pass in both trees. Earlier runs declared the module '
        'GIL-free over an FT101 left in that header (src/lib/buffer, outside the module\'s folder): a race '
        'left in any project header now blocks the declaration.'
    ),
    "ijson": (
        'the FT101 left is `M1_N(last = PyList_GetItem(builder->value_stack, n))` in yajl2_c/builder.h: an '
        'assignment inside a macro argument, whose expansion returns early (and the block after it returns '
        'from inside other macros), so neither a strong reference nor a critical section can be added '
        'mechanically; it blocks the declaration.'
    ),
    "cbor2": (
        'source/module.c initialises two static objects with the GIL build\'s header by hand '
        '(`{ _PyObject_EXTRA_INIT 1, &type }`), which does not compile free-threaded, so the unpatched '
        'extension (optional in setup.py) is left out of the cp314t wheel and its 373 C-backend tests '
        'skip. FT503 (new) reports them and the fix writes EXTMIGRATE_OBJECT_INIT: the patched extension '
        'builds and all 762 tests pass. Its lazily imported module attributes (extern in module.h, defined '
        'at the end of module.c) got their PyMutex declared after the first use in an earlier run, which '
        'broke the build; the lock now goes before the first function using it. Left: FT102 x4 (a value '
        'assigned again later; a value used before its Py_INCREF) and FT108 (not in a loop), which block '
        'the declaration, so importing _cbor2 re-enables the GIL.'
    ),
    "hiredis": (
        'vendor/hiredis is the bundled hiredis C library (scanned with `-I vendor`, so its header parses): '
        'fix leaves it alone (its two FT301 are reported as vendored). The Reader methods get critical '
        'sections (FT510). Left: FT514 at reader.c:109, PyList_SET_ITEM into the reply list under '
        'construction, which only the reader\'s C state holds until gets() returns it; debatable (the '
        'reader\'s critical section covers it after the fix) but the rule cannot see that, so it blocks '
        'the declaration and importing hiredis.hiredis enables the GIL (3.3.0 does not declare it '
        'either). Earlier runs without `-I vendor` had this finding in a body that did not parse, so '
        'low-confidence, and declared the module anyway: fix no longer declares over unanalysed code. '
        'Tests: the `reader` fixture (one hiredis.Reader per test) is shared by the 4 threads of a test '
        'under pytest-run-parallel, so one thread\'s gets() takes the reply another fed: '
        '`--thread-unsafe=reader` runs those tests in one thread in both trees.'
    ),
    "python-rapidjson": (
        'rapidjson/ holds the bundled RapidJSON C++ headers (scanned with `-I rapidjson/include`). '
        'Left: six FT512, `setlocale(LC_NUMERIC, ...)` saved, set to "C" and restored around number '
        'formatting in two places of rapidjson.cpp: setlocale changes process-wide state, so one '
        'thread can restore another\'s locale while it formats; a real race with no mechanical remedy '
        '(uselocale or locale-independent formatting by hand), so the module keeps the GIL. Earlier '
        'runs without the include folder declared it GIL-free over those findings in unparsed bodies. '
        'Tests: the recursion-limit and tracemalloc tests run in one thread (process-wide settings), '
        'and two are left out in both trees: test_refs_count::test_endarray_leak and '
        'test_memory_leaks.py assert CPython 3.13 reference and allocation counts and fail on 3.14 in '
        'both trees (1.22 relaxed them for 3.14).'
    ),
    "bitstruct": (
        'every finding fixed: several FT102 lookups in one function share their releases before each '
        'return, a lookup in a loop is released at the end of each pass, the FT101 that overlapped it is '
        'fixed in fix\'s second round, and FT515\'s root cause (four methods reading what '
        '__setstate__ writes) gets a critical section in each reader, FT510 one in the writer.'
    ),
}

_NOT_FIXED = re.compile(r"^(?P<path>.+?):\d+:\d+: (?P<code>FT\d{3}) not fixed: (?P<reason>.*)$")


def extmigrate(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "extmigrate", *args], capture_output=True, text=True, cwd=cwd)


def scan(tree: Path, args: tuple = ()) -> dict:
    proc = extmigrate("scan", "--no-config", "--format", "json", *args, ".", cwd=tree)
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
    before = scan(patched, pkg.scan_args)
    fix = extmigrate("fix", "--no-config", "--apply", "--unsafe-fixes", *pkg.scan_args, ".", cwd=patched)
    (work / "fix.log").write_text(fix.stdout + fix.stderr)
    after = scan(patched, pkg.scan_args)
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
        **fix_outcome(fix.stdout + fix.stderr), "commit": commit(),
        "left": after["summary"]["findings"], "left_by_rule": after["summary"]["by_rule"],
        "diff_lines": sum(1 for ln in diff.splitlines() if ln[:1] in "+-" and ln[:3] not in ("+++", "---")),
        "verify": verified, "exit": proc.returncode,
    }


def fix_outcome(log: str) -> dict:
    """Findings fixed over every round of `fix --apply` (it runs another round by itself for fixes an
    overlap left for the next run), and why the last round left the others."""
    last = log.split("fix: another round")[-1]
    not_fixed = [m.groupdict() for m in map(_NOT_FIXED.match, last.splitlines()) if m]
    return {"fixed": sum(int(n) for n in re.findall(r"(\d+) finding\(s\) fixed", log)),
            "not_fixed": dict(Counter(f"{n['code']}: {reason_kind(n['reason'])}" for n in not_fixed))}


def commit() -> str:
    out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT)
    return out.stdout.strip() or "unknown"


def manual_steps(pkg: Package) -> list[str]:
    """The verify options a package needed beyond the defaults, each a documented manual step."""
    steps = [f"scan/fix {' '.join(pkg.scan_args)}"] if pkg.scan_args else []
    steps += ["--ignore-requires-python"] if pkg.ignore_requires_python else []
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


def run_at(results: list[dict]) -> str:
    """Which extmigrate commit each package's row comes from, most common first."""
    by_commit: dict[str, list[str]] = {}
    for r in results:
        by_commit.setdefault(r.get("commit", "unknown"), []).append(r["package"].split()[0])
    parts = [f"`{c}` ({', '.join(names)})" for c, names in sorted(by_commit.items(), key=lambda kv: -len(kv[1]))]
    return "Run at extmigrate commit " + "; ".join(parts) + "."


def render(results: list[dict], python: str, threads: int) -> str:
    head = ["# Migrations of real packages", "",
            "Reproduce with `python scripts/migrations.py --python python3.14t` (fetches the pinned sdists, "
            "their sha256 checked; builds and tests run only inside `extmigrate verify`). Each package is "
            "its last release before it shipped free-threaded wheels (the release that first did is in brackets). "
            f"Steps: `scan`, `fix --apply --unsafe-fixes`, `scan` again, `verify --threads {threads} --baseline "
            f"<unpatched copy>` with a free-threaded CPython {python}. Tests: before = the unpatched "
            f"build, after = the patched one, both with PYTHON_GIL=0 and {threads} threads per test "
            "(pytest-run-parallel). Rerun it after a change to the rules or the fixes: the table is what "
            "the code did when it was written. Manual steps are `verify` options the package's own test "
            "suite needs in threads, the same in both trees (notes).", "",
            run_at(results),
            "",
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


def refreshed(pkg: Package, r: dict) -> dict:
    """A stored result with its fix counts read again from its fix.log (the way fix_outcome reads it)."""
    log = WORK / f"{pkg.name}-{pkg.version}" / "fix.log"
    return {**r, **fix_outcome(log.read_text())} if log.is_file() else r


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
        results = [refreshed(pkg, json.loads(p.read_text())) for pkg, p in
                   ((pkg, WORK / f"{pkg.name}.json") for pkg in PACKAGES) if p.is_file()]
        version = subprocess.run([args.python, "-c", "import sys; print(sys.version.split()[0])"],
                                 capture_output=True, text=True).stdout.strip()
        DOC.write_text(render(results, version, args.threads))
    return 0


if __name__ == "__main__":
    sys.exit(main())
