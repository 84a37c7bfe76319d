"""`extmigrate stress`: build a project, run its tests with the GIL off in 1 and N threads (under
ThreadSanitizer with --tsan), and join the races with a scan of the same tree.

This builds and runs the project's code; `scan` and `fix` never do.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field

from extmigrate.model import Finding
from extmigrate.fileio import write_file
from extmigrate.runtime import build_env, test_runs, tsan
from extmigrate.runtime import project as proj
from extmigrate.runtime.racejoin import Join, data, join
from extmigrate.scan import ScanOptions, ScanResult, scan

SOURCE_SUFFIXES = (".c", ".h", ".cc", ".cpp", ".cxx", ".hpp", ".hh", ".hxx")


@dataclass
class Settings:
    project: str
    python: str
    threads: int = 4
    tsan: bool = False
    command: str | None = None
    work_dir: str | None = None  # kept after the run (and its venv reused); default: a temporary folder
    timeout: float = 1800.0
    scan_options: ScanOptions | None = None
    pytest_args: list[str] = field(default_factory=list)
    test_timeout: float = 600.0


@dataclass
class StressResult:
    project: str
    interpreter: build_env.Interpreter
    tsan: bool
    threads: int
    runs: list[test_runs.TestRun] = field(default_factory=list)
    races: list[tsan.Race] = field(default_factory=list)
    joined: Join = field(default_factory=Join)
    findings: list[Finding] = field(default_factory=list)
    modules: list[str] = field(default_factory=list)
    interpreter_reports: int = 0   # reports with no frame in the project's code
    files: tsan.Project | None = None  # which frames are the project's (the reporters' paths)
    work_dir: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def thread_only_failures(self) -> list[str]:
        one, many = self.runs[0].outcomes, self.runs[-1].outcomes
        if not one and not many:  # --command: only its exit status tells
            first, last = self.runs[0].returncode, self.runs[-1].returncode
            return ["the command"] if first == 0 and last != 0 and not self.runs[-1].crashes else []
        return sorted(t for t, o in many.items() if o in ("failed", "error") and one.get(t) == "passed")

    @property
    def thread_only_crashes(self) -> list[test_runs.Crash]:
        crashed_alone = {c.test for c in self.runs[0].crashes}
        return [c for c in self.runs[-1].crashes if c.test not in crashed_alone]


def project_files(root: str) -> list[str]:
    """The project's C/C++ sources and headers (what a racing frame must be in to be its own)."""
    out = []
    for top, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith(".") and d not in ("build", "dist", "venv")]
        out += [os.path.join(top, f) for f in files if f.endswith(SOURCE_SUFFIXES)]
    return sorted(out)


def check_interpreter(py: build_env.Interpreter, want_tsan: bool) -> None:
    if not py.free_threaded:
        raise build_env.BuildError(
            f"{py.exe} (Python {py.version}) is not a free-threaded build: the stress runs need one "
            "(python3.14t), or PYTHON_GIL=0 has nothing to turn off")
    if want_tsan and not py.tsan:
        raise build_env.BuildError(
            f"{py.exe} (Python {py.version}) is not a ThreadSanitizer build (its CONFIG_ARGS have no "
            f"{data()['build']['config_arg']}): --tsan needs one (./configure --disable-gil "
            "--with-thread-sanitizer); run without --tsan for the thread stress alone")


def tsan_options(log_dir: str, suppressions: str) -> str:
    opts = dict(data()["options"])
    opts.update({"exitcode": "0", "log_path": os.path.join(log_dir, "tsan"), "suppressions": suppressions})
    return " ".join(f"{k}={v}" for k, v in opts.items())


def _write_suppressions(work: str) -> str:
    path = os.path.join(work, "tsan-suppressions.txt")
    write_file(path, ("\n".join(data()["suppressions"]["lines"]) + "\n").encode("utf-8"), durable=False)
    return path


def _run_env(env: build_env.Env, threads: int, log_dir: str, tsan_on: bool, suppressions: str) -> dict:
    e = proj.clean_env()
    e.update({"PYTHON_GIL": "0", "PYTHONUNBUFFERED": "1", "PYTHONFAULTHANDLER": "1",
              "VIRTUAL_ENV": env.folder, "EXTMIGRATE_THREADS": str(threads),
              "PATH": env.bin + os.pathsep + os.environ.get("PATH", ""),
              "PYTEST_ADDOPTS": f"--parallel-threads={threads}"})
    if tsan_on:
        e["TSAN_OPTIONS"] = tsan_options(log_dir, suppressions)
    return e


def stress(s: Settings, progress=print) -> StressResult:
    project = os.path.abspath(s.project)
    py = build_env.probe(s.python)
    check_interpreter(py, s.tsan)
    work = s.work_dir or tempfile.mkdtemp(prefix="extmigrate-stress-")
    out = StressResult(project, py, s.tsan, s.threads, work_dir=work)
    try:
        progress(f"building {os.path.basename(project)} for Python {py.version}"
                 f"{' with ThreadSanitizer' if s.tsan else ''} in {work}")
        env = build_env.prepare(project, py, work, s.tsan)
        out.modules = env.modules
        if not env.modules:
            out.notes.append("the install added no extension module: nothing native was exercised")
        progress("scanning the same tree")
        result = _scan(project, s.scan_options, py.exe)
        out.findings = result.findings
        supp = _write_suppressions(work)
        for n in sorted({1, s.threads}):
            log_dir = os.path.join(work, f"threads-{n}")
            shutil.rmtree(log_dir, ignore_errors=True)
            progress(f"running the tests in {n} thread{'s' if n > 1 else ''}")
            cmd = test_runs.user_command(s.command, n) if s.command else \
                test_runs.pytest_command(env.bin, project, s.pytest_args, s.test_timeout)
            out.runs.append(test_runs.run(cmd, project, _run_env(env, n, log_dir, s.tsan, supp), n,
                                          log_dir, s.timeout, pytest=not s.command))
        if s.tsan:
            reports = [r for run in out.runs for r in tsan.read_logs(run.log_dir)]
            own = tsan.Project(project, project_files(project), env.modules)
            out.files = own
            out.races = tsan.races(reports, own)
            out.interpreter_reports = len(reports) - sum(r.count for r in out.races)
            out.joined = join(out.races, out.findings, own)
        else:
            out.notes.append("races were not instrumented (no --tsan): only test outcomes and crashes "
                             "were compared")
    finally:
        if not s.work_dir:
            shutil.rmtree(work, ignore_errors=True)
            out.work_dir = ""
    return out


def _scan(project: str, opts: ScanOptions | None, python: str) -> ScanResult:
    opts = opts or ScanOptions(paths=[project], cache=True)
    if not opts.python:
        opts.python = python
    return scan(opts)
