"""`extmigrate verify`: build, install, import and test a project (and a baseline of it) with one Python.

THIS BUILDS AND RUNS THE PROJECT (its build backend, extension modules and tests), unlike scan and fix.
A tree is checked in a fresh venv; given a baseline, both runs are compared test by test so that a
silently reduced build (fewer extension modules, fewer tests, new skips) or a new failure is caught.
"""

from __future__ import annotations

import shutil
import subprocess
import os
import tarfile
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from extmigrate.runtime import project as P

SCHEMA_VERSION = 1


class UsageError(Exception):
    """Bad input to verify (no interpreter, not a project, unknown baseline): exit 2."""


@dataclass
class Settings:
    python: str
    threads: int = 4
    tests: list[str] = field(default_factory=list)      # pytest arguments; default: the project's own
    requirements: list[str] = field(default_factory=list)  # extra test requirements to install
    pytest_args: list[str] = field(default_factory=list)
    test_extra: bool = True                                 # install the wheel's test/tests/testing extra
    ignore_requires_python: bool = False                    # build and install despite requires-python

    @property
    def pip_args(self) -> list[str]:
        return ["--ignore-requires-python"] if self.ignore_requires_python else []
    build_timeout: float = 1800
    test_timeout: float = 1800


def thread_unsafe_args(names: list[str]) -> list[str]:
    """pytest `-o` overrides that make tests using these fixtures (plain names) or calling these
    functions (dotted names, `gc.collect`) run in one thread under pytest-run-parallel."""
    fixtures = [n for n in names if "." not in n]
    functions = [n for n in names if "." in n]
    out: list[str] = []
    for ini, values in (("thread_unsafe_fixtures", fixtures), ("thread_unsafe_functions", functions)):
        if values:
            out += ["-o", f"{ini}=" + "\n".join(values)]
    return out


@dataclass
class TreeResult:
    label: str                      # "project" or "baseline"
    path: str
    wheel: str | None = None
    extension_modules: list[str] = field(default_factory=list)
    imports: list[P.ImportResult] = field(default_factory=list)
    tests: P.TestRun | None = None
    shadowing_removed: list[str] = field(default_factory=list)  # left out of the copy the tests run in
    failed_step: str | None = None  # venv, build, install, tests
    error: str | None = None

    def gil_enablers(self) -> list[str]:
        return [i.module for i in self.imports if i.enabled_gil]

    def to_json(self) -> dict:
        tests = None
        if self.tests:
            t = self.tests
            tests = {**t.counts(), "returncode": t.returncode, "crashed": t.crashed, "stopped": t.stopped,
                     "log": t.log,
                     "not_passed": {tid: o for tid, o in sorted(t.outcomes.items()) if o in ("failed", "error")},
                     "skipped_tests": sorted(tid for tid, o in t.outcomes.items() if o == "skipped")}
        return {"path": self.path, "wheel": self.wheel, "extension_modules": self.extension_modules,
                "imports": [asdict(i) for i in self.imports], "tests": tests,
                "tests_ran_without": self.shadowing_removed,
                "failed_step": self.failed_step, "error": self.error}


def run_tree(label: str, tree: Path, s: Settings, workdir: Path) -> TreeResult:
    """Every step for one tree; a failing step stops the tree and is recorded, never raised."""
    res = TreeResult(label, str(tree))
    logs = workdir / label
    step = "venv"
    try:
        vpy = P.make_venv(s.python, workdir / f"venv-{label}", logs)
        free_threaded = P.is_free_threaded(vpy)
        step = "build"
        wheel = P.build_wheel(vpy, tree, workdir / f"dist-{label}", logs, timeout=s.build_timeout,
                              pip_args=s.pip_args)
        res.wheel = str(wheel)
        res.extension_modules = P.extension_modules(wheel)
        step = "install"
        P.install(vpy, wheel, logs, s.requirements, test_extra=s.test_extra, pip_args=s.pip_args)
        step = "import"
        res.imports = P.check_imports(vpy, res.extension_modules, cwd=logs)
        step = "tests"
        tests = s.tests or P.default_tests(tree)
        where, res.shadowing_removed = P.copy_for_tests(tree, wheel, workdir / f"tests-{label}", tests)
        res.tests = P.run_tests(vpy, where, logs, threads=s.threads, tests=tests,
                                free_threaded=free_threaded, timeout=s.test_timeout, extra_args=s.pytest_args)
    except P.StepError as e:
        res.failed_step, res.error = step, str(e)
    return res


def compare(base: TreeResult, new: TreeResult) -> dict:
    """What the new tree lost or broke against the baseline, test by test."""
    out: dict = {"missing_extension_modules": sorted(set(base.extension_modules) - set(new.extension_modules)),
                 "new_extension_modules": sorted(set(new.extension_modules) - set(base.extension_modules))}
    if base.tests and new.tests and not any(t.crashed or t.stopped for t in (base.tests, new.tests)):
        b, n = base.tests.outcomes, new.tests.outcomes
        bad = ("failed", "error")
        out.update({
            "baseline_counts": base.tests.counts(), "counts": new.tests.counts(),
            "missing_tests": sorted(set(b) - set(n)),
            "added_tests": sorted(set(n) - set(b)),
            "new_failures": sorted(t for t in n if n[t] in bad and b.get(t) not in bad),
            "newly_skipped": sorted(t for t in n if n[t] == "skipped" and b.get(t) == "passed"),
            "fixed": sorted(t for t in n if n[t] == "passed" and b.get(t) in bad),
            "still_failing": sorted(t for t in n if n[t] in bad and b.get(t) in bad),
        })
    return out


def problems(new: TreeResult, base: TreeResult | None, cmp: dict | None) -> list[str]:
    """One line per reason the verification fails; empty when it passes."""
    out = []
    if new.error:
        out.append(f"{new.failed_step}: {new.error}")
    if new.wheel and not new.extension_modules:
        out.append("the wheel holds no extension module (an optional extension that failed to build? "
                   "see build.log)")
    out += [f"importing {i.module} failed: {i.error}" for i in new.imports if i.error]
    out += [f"importing {m} re-enabled the GIL" for m in new.gil_enablers()]
    t = new.tests
    if t is not None:
        c = t.counts()
        if t.crashed:
            out.append(f"the tests crashed (exit {t.returncode}) before pytest wrote its report: {t.tail}")
        elif t.stopped:
            out.append(f"pytest stopped ({t.stopped}, exit {t.returncode}) after {c['collected']} tests "
                       f"(see {t.log})")
        elif c["failed"] or c["error"]:
            out.append(f"{c['failed']} tests failed and {c['error']} errored (see {t.log})")
        elif c["collected"] == 0:
            out.append("no tests were collected")
    if base is not None:
        if base.error:
            out.append(f"baseline {base.failed_step}: {base.error}")
        elif base.tests and (base.tests.crashed or base.tests.stopped):
            out.append(f"baseline tests {'crashed' if base.tests.crashed else 'stopped: ' + base.tests.stopped}"
                       ": no test-by-test comparison")
    if cmp:
        if cmp["missing_extension_modules"]:
            out.append(f"extension modules the baseline builds are missing: "
                       f"{', '.join(cmp['missing_extension_modules'])}")
        for key, what in (("missing_tests", "tests of the baseline are missing"),
                          ("new_failures", "tests fail that the baseline passes or skips"),
                          ("newly_skipped", "tests are skipped that the baseline passes")):
            if cmp.get(key):
                out.append(f"{len(cmp[key])} {what}: {', '.join(cmp[key][:5])}"
                           f"{' ...' if len(cmp[key]) > 5 else ''}")
    return out


# ---- the baseline tree ------------------------------------------------------------------------------

def baseline_tree(spec: str, project: Path, workdir: Path) -> Path:
    """A folder as is, or the project's folder at a git ref (tracked files, via `git archive`)."""
    if Path(spec).is_dir():
        return Path(spec)
    def git(*args: str, cwd: Path = project) -> subprocess.CompletedProcess:
        return subprocess.run(["git", "-C", str(cwd), *args], capture_output=True, timeout=300)
    try:
        ok = git("rev-parse", "--verify", "--quiet", f"{spec}^{{commit}}").returncode == 0
        prefix = git("rev-parse", "--show-prefix").stdout.decode().strip() if ok else ""
        top = Path(git("rev-parse", "--show-toplevel").stdout.decode().strip()) if ok else project
    except (OSError, subprocess.SubprocessError):
        ok = False
    if not ok:
        raise UsageError(f"--baseline {spec}: neither a folder nor a git ref of {project}")
    dest = workdir / "baseline-src"
    dest.mkdir(parents=True, exist_ok=True)
    archive = workdir / "baseline.tar"
    # <ref>:<prefix> is the project's folder at that ref, its paths relative to the folder
    proc = git("archive", "--format=tar", "-o", str(archive), f"{spec}:{prefix}" if prefix else spec,
               cwd=top)
    if proc.returncode != 0:
        raise UsageError(f"--baseline {spec}: git archive failed: {proc.stderr.decode(errors='replace').strip()}")
    with tarfile.open(archive) as tf:
        _extract(tf, dest)
    return dest


def _extract(tf: tarfile.TarFile, dest: Path) -> None:
    """Unpack inside dest only: tarfile's "data" filter where it exists (3.11.4+, 3.10.12+), else the
    same refusals by hand (absolute paths, `..`, links that leave dest, devices)."""
    if hasattr(tarfile, "data_filter"):
        tf.extractall(dest, filter="data")
        return
    root = os.path.realpath(dest)

    def inside(name: str) -> bool:
        return os.path.realpath(os.path.join(root, name)).startswith(root + os.sep)

    members = [m for m in tf.getmembers()
               if (m.isfile() or m.isdir() or (m.issym() and inside(os.path.join(os.path.dirname(m.name),
                                                                                   m.linkname))))
               and not os.path.isabs(m.name) and inside(m.name)]
    tf.extractall(dest, members=members)


# ---- the whole command ------------------------------------------------------------------------------

def run(project: Path, s: Settings, baseline: str | None = None, workdir: Path | None = None,
        keep_venvs: bool = False) -> dict:
    """Verify `project` (and compare it with `baseline`); the JSON document docs/verify.md describes."""
    if not project.is_dir() or not any((project / f).is_file() for f in ("pyproject.toml", "setup.py")):
        raise UsageError(f"{project}: not a Python project (no pyproject.toml or setup.py)")
    if shutil.which(s.python) is None and not Path(s.python).is_file():
        raise UsageError(f"--python {s.python}: no such interpreter")
    if s.threads < 1:
        raise UsageError("--threads must be 1 or more")
    workdir = workdir or Path(tempfile.mkdtemp(prefix="extmigrate-verify-"))
    workdir.mkdir(parents=True, exist_ok=True)
    base_tree = baseline_tree(baseline, project, workdir) if baseline else None
    new = run_tree("project", project, s, workdir)
    base = run_tree("baseline", base_tree, s, workdir) if base_tree else None
    cmp = compare(base, new) if base else None
    if not keep_venvs:
        for venv in [*workdir.glob("venv-*"), *workdir.glob("tests-*")]:
            shutil.rmtree(venv, ignore_errors=True)
    free_threaded = any(i.enabled_gil is not None for i in new.imports) or None
    reasons = problems(new, base, cmp)
    return {"version": SCHEMA_VERSION, "ok": not reasons, "problems": reasons,
            "python": s.python, "free_threaded": free_threaded, "threads": s.threads, "workdir": str(workdir),
            "project": new.to_json(), "baseline": base.to_json() if base else None, "comparison": cmp}
