"""Build, install, import and test a project with one interpreter: the steps `verify` (and `stress`) run.

Every function here BUILDS OR RUNS THE PROJECT's code (its build backend, its extension modules, its
tests); `scan` and `fix` never call them. Each step runs in a child process with a time limit, writes
its whole output to a log file, and raises StepError with a one-line reason when it fails.
"""

from __future__ import annotations

import os
import subprocess
import xml.etree.ElementTree as ET
import zipfile
from dataclasses import dataclass, field
from email.parser import HeaderParser
from pathlib import Path

from extmigrate.runtime.verify_import import VerifyError, verify

# Always installed next to the wheel to run its tests in threads.
TEST_TOOLS = ("pytest", "pytest-run-parallel")
# Extras that conventionally hold a project's test requirements.
TEST_EXTRAS = ("test", "tests", "testing")
# Environment variables of the caller that would change what the child pytest or pip does.
_DROP_ENV = ("PYTHONPATH", "PYTEST_ADDOPTS", "PYTHONHOME", "PYTHON_GIL", "VIRTUAL_ENV", "PYTHONSAFEPATH")
# Worst outcome first: a test that failed in its call and errored in teardown is an error.
OUTCOMES = ("error", "failed", "skipped", "passed")


class StepError(Exception):
    """A step failed: the message is one line; the log file holds the whole output."""

    def __init__(self, message: str, log: Path | None = None):
        super().__init__(message)
        self.log = log


def clean_env(extra: dict | None = None) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in _DROP_ENV}
    env.update(extra or {})
    return env


def _tail(text: str, lines: int = 1) -> str:
    rest = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return " | ".join(rest[-lines:]) if rest else "no output"


def run_logged(cmd: list[str], log: Path, what: str, timeout: float, cwd: Path | None = None,
               env: dict | None = None, ok_codes: tuple = (0,)) -> subprocess.CompletedProcess:
    """Run cmd with its output going to log as it comes (so a long step can be watched); StepError unless
    it exits with one of ok_codes. The returned process's stdout is the whole output."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as f:
        f.write(f"$ {' '.join(map(str, cmd))}\n")
        f.flush()
        try:
            proc = subprocess.run([str(c) for c in cmd], stdout=f, stderr=subprocess.STDOUT, timeout=timeout,
                                  cwd=cwd, env=env or clean_env(), stdin=subprocess.DEVNULL)
        except FileNotFoundError:
            raise StepError(f"{what}: cannot run {cmd[0]}", log) from None
        except subprocess.TimeoutExpired:
            f.write("\n[timed out]\n")
            raise StepError(f"{what}: no result within {timeout:g} s (log: {log})", log) from None
        f.write(f"\n[exit {proc.returncode}]\n")
    out = log.read_text(errors="replace")
    if proc.returncode not in ok_codes:
        last = "\n".join(out.splitlines()[:-1])  # without the [exit N] line
        raise StepError(f"{what} failed (exit {proc.returncode}): {_tail(last)} (log: {log})", log)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, "")


# ---- the interpreter and its venv -------------------------------------------------------------------

def venv_python(venv: Path) -> Path:
    return venv / ("Scripts" if os.name == "nt" else "bin") / ("python.exe" if os.name == "nt" else "python")


def make_venv(python: str, venv: Path, logdir: Path, timeout: float = 300) -> Path:
    """A fresh venv (with pip) for `python`; returns the venv's interpreter."""
    run_logged([python, "-m", "venv", "--clear", venv], logdir / "venv.log", f"creating a venv with {python}",
               timeout)
    return venv_python(venv)


def is_free_threaded(vpy: Path) -> bool:
    proc = subprocess.run([str(vpy), "-I", "-c", "import sysconfig; "
                           "print(bool(sysconfig.get_config_var('Py_GIL_DISABLED')))"],
                          capture_output=True, text=True, timeout=60, env=clean_env())
    return proc.stdout.strip() == "True"


def python_version(vpy: Path) -> str:
    proc = subprocess.run([str(vpy), "-I", "-c", "import sys; print(sys.version.split()[0])"],
                          capture_output=True, text=True, timeout=60, env=clean_env())
    return proc.stdout.strip()


def pip(vpy: Path, args: list[str], log: Path, what: str, timeout: float, cwd: Path | None = None,
        env: dict | None = None):
    return run_logged([vpy, "-m", "pip", "--disable-pip-version-check", "--no-input", *args], log, what,
                      timeout, cwd=cwd, env=env)


# ---- build and install ------------------------------------------------------------------------------

def build_wheel(vpy: Path, project: Path, outdir: Path, logdir: Path, timeout: float = 1800,
                pip_args: list[str] = (), env: dict | None = None) -> Path:
    """`pip wheel --no-deps` of the project (isolated build: its own build requirements); the wheel's path.

    env: the build's environment (stress adds -fsanitize=thread to CFLAGS/LDFLAGS); default clean_env()."""
    outdir.mkdir(parents=True, exist_ok=True)
    before = set(outdir.glob("*.whl"))
    # -v: the compiler's output in the log (an optional extension that failed to compile is only a warning)
    pip(vpy, ["wheel", "-v", "--no-deps", *pip_args, "-w", str(outdir.resolve()), str(project.resolve())],
        logdir / "build.log", "building the wheel", timeout, env=env)
    new = sorted(set(outdir.glob("*.whl")) - before) or sorted(outdir.glob("*.whl"))
    if not new:
        raise StepError(f"building the wheel: pip wrote no wheel to {outdir}", logdir / "build.log")
    return new[-1]


def wheel_extras(wheel: Path) -> list[str]:
    """The wheel's Provides-Extra names."""
    with zipfile.ZipFile(wheel) as zf:
        meta = next((n for n in zf.namelist() if n.endswith(".dist-info/METADATA")), None)
        if not meta:
            return []
        headers = HeaderParser().parsestr(zf.read(meta).decode("utf-8", "replace"))
    return headers.get_all("Provides-Extra") or []


def install(vpy: Path, wheel: Path, logdir: Path, requirements: list[str] = (), timeout: float = 900,
            test_extra: bool = True, pip_args: list[str] = ()) -> list[str]:
    """Install the wheel with its test extra (if any and test_extra), pytest, pytest-run-parallel and
    `requirements`. Returns the extras installed."""
    extras = [e for e in wheel_extras(wheel) if e in TEST_EXTRAS][:1] if test_extra else []
    target = f"{wheel}[{','.join(extras)}]" if extras else str(wheel)
    pip(vpy, ["install", *pip_args, target, *TEST_TOOLS, *requirements], logdir / "install.log",
        "installing the wheel and the test tools", timeout)
    return extras


# ---- what the wheel holds ---------------------------------------------------------------------------

def extension_modules(wheel: Path) -> list[str]:
    """Dotted names of the wheel's extension modules (`pkg/_x.cpython-314t-...so` -> `pkg._x`)."""
    out = []
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
    for name in names:
        if not name.endswith((".so", ".pyd")):
            continue
        parts = name.split("/")
        if parts[0].endswith(".data") and len(parts) > 2 and parts[1] in ("purelib", "platlib"):
            parts = parts[2:]
        elif parts[0].endswith((".data", ".dist-info", ".libs")) or ".libs" in parts[0]:
            continue  # scripts, headers, bundled shared libraries (auditwheel): not importable modules
        stem = parts[-1].split(".")[0]
        if not stem.isidentifier() or not all(p.isidentifier() for p in parts[:-1]):
            continue
        out.append(".".join(parts[:-1] + [stem]))
    return sorted(set(out))


# ---- import: does each extension module keep the GIL off? -------------------------------------------

@dataclass
class ImportResult:
    module: str
    error: str | None = None
    enabled_gil: bool | None = None   # None: not a free-threaded build, the question does not apply
    warnings: list[str] = field(default_factory=list)


def check_imports(vpy: Path, modules: list[str], cwd: Path, timeout: float = 120) -> list[ImportResult]:
    """Import each module alone in a fresh child of vpy (PYTHON_GIL unset) and read the GIL after it."""
    out = []
    for name in modules:
        try:
            data = verify([name], str(vpy), timeout=timeout, cwd=str(cwd)).data
        except VerifyError as e:
            out.append(ImportResult(name, error=str(e)))
            continue
        (imp,) = data["imports"]
        enabled = imp["enabled_gil"] if data["free_threaded_build"] else None
        out.append(ImportResult(name, imp["error"], enabled, imp["warnings"]))
    return out


# ---- tests ------------------------------------------------------------------------------------------

@dataclass
class TestRun:
    returncode: int
    outcomes: dict[str, str]          # test id -> error / failed / skipped / passed
    crashed: bool = False             # pytest died before writing its report (a segfault, an abort)
    # pytest's exit codes that mean it stopped before the end: what ran is in outcomes, the rest is not
    STOPPED = {2: "interrupted", 3: "internal error", 4: "usage error"}
    tail: str = ""                    # last lines of pytest's output
    log: str = ""

    @property
    def stopped(self) -> str | None:
        return None if self.crashed else self.STOPPED.get(self.returncode)

    def counts(self) -> dict[str, int]:
        c = {o: 0 for o in OUTCOMES}
        for o in self.outcomes.values():
            c[o] += 1
        return {"collected": len(self.outcomes), **c}


def parse_junit(path: Path) -> dict[str, str]:
    """Test id (`classname::name`) -> outcome, from pytest's --junitxml report."""
    root = ET.parse(path).getroot()
    out: dict[str, str] = {}
    for case in root.iter("testcase"):
        tid = f"{case.get('classname', '')}::{case.get('name', '')}"
        if tid == "pytest::internal":
            continue  # pytest's INTERNALERROR as a pseudo test: the run is reported as stopped instead
        kinds = {child.tag for child in case}
        outcome = ("error" if "error" in kinds else "failed" if "failure" in kinds
                   else "skipped" if "skipped" in kinds else "passed")
        prev = out.get(tid)
        if prev is None or OUTCOMES.index(outcome) < OUTCOMES.index(prev):
            out[tid] = outcome
    return out


def run_tests(vpy: Path, project: Path, logdir: Path, threads: int = 1, tests: list[str] = (),
              free_threaded: bool = True, timeout: float = 1800, extra_args: list[str] = ()) -> TestRun:
    """The project's tests with the venv's pytest, from the project folder, in `threads` threads each
    (pytest-run-parallel), with PYTHON_GIL=0 on a free-threaded build (a GIL build refuses it)."""
    junit = logdir / "junit.xml"
    junit.unlink(missing_ok=True)
    pytest = vpy.parent / ("pytest.exe" if os.name == "nt" else "pytest")  # not `python -m`: no cwd on sys.path
    cmd = [pytest, "-p", "no:cacheprovider", "-rfE", f"--junitxml={junit}", *extra_args]
    if threads > 1:
        cmd.append(f"--parallel-threads={threads}")
    cmd += list(tests)
    env = clean_env({"PYTHON_GIL": "0"} if free_threaded else None)
    log = logdir / "tests.log"
    # any exit is a result: pytest's 0-5 (2 interrupted, 3 internal error, 4 usage error: the report may
    # hold the tests run before), or a signal (no report: crashed)
    proc = run_logged(cmd, log, "running the tests", timeout, cwd=project, env=env,
                      ok_codes=tuple(range(-64, 256)))
    tail = _tail("\n".join(proc.stdout.splitlines()[:-1]), 12)
    if not junit.exists():
        return TestRun(proc.returncode, {}, crashed=True, tail=tail, log=str(log))
    return TestRun(proc.returncode, parse_junit(junit), tail=tail, log=str(log))


# Not copied into the folder the tests run from: VCS data, build output, environments, caches.
_NOT_COPIED = (".git", ".hg", "build", "dist", ".venv", "venv", ".tox", ".nox", "*.egg-info", "__pycache__",
               ".pytest_cache", ".mypy_cache")


def wheel_top_level(wheel: Path) -> set[str]:
    """Top-level importable names the wheel installs (`pkg`, `mod` for mod.py or mod.cpython-....so)."""
    with zipfile.ZipFile(wheel) as zf:
        firsts = {n.split("/")[0] for n in zf.namelist()}
    return {f.split(".")[0] for f in firsts if not f.endswith((".dist-info", ".data"))}


def copy_for_tests(project: Path, wheel: Path, dest: Path, tests: list[str]) -> tuple[Path, list[str]]:
    """A copy of the project to run its tests from, without the source of what the wheel installs at
    its root (`pkg/`, `mod.py`): pytest puts the root on sys.path, and the tests must import the installed
    wheel, not the source tree (which has no built extension). What holds the tests is kept.

    Returns (the copy, the names removed)."""
    import shutil

    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(project, dest, ignore=shutil.ignore_patterns(*_NOT_COPIED), symlinks=True)
    keep = {Path(t).parts[0] for t in tests if Path(t).parts}
    removed = []
    for name in sorted(wheel_top_level(wheel)):
        for path in (dest / name, dest / f"{name}.py"):
            if path.name in keep or not path.exists():
                continue
            shutil.rmtree(path) if path.is_dir() else path.unlink()
            removed.append(path.name)
    return dest, removed


def default_tests(project: Path) -> list[str]:
    """Nothing when pytest's own configuration says where the tests are, else tests/ or test/ if present."""
    for cfg, marker in (("pytest.ini", "[pytest]"), ("pyproject.toml", "[tool.pytest"),
                        ("setup.cfg", "[tool:pytest]"), ("tox.ini", "[pytest]")):
        p = project / cfg
        if p.is_file() and marker in p.read_text(errors="replace") and "testpaths" in p.read_text(errors="replace"):
            return []
    return [d for d in ("tests", "test", "testing") if (project / d).is_dir()][:1]
