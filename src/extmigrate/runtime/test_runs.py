"""Run a project's tests with the GIL off, in N threads (pytest-run-parallel), surviving crashes.

A run that crashes (a signal, as a race often ends) is resumed without the test that crashed and
those already done, so one crash does not hide the rest of the suite.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from extmigrate.runtime.project import default_tests

# `path::test[param] PASSED  [ 10%]` in pytest -v output (pytest-run-parallel adds words before it).
_OUTCOME = re.compile(r"^(?P<id>\S+::\S+)\s.*?\b(?P<outcome>PASSED|FAILED|ERROR|SKIPPED|XFAIL|XPASS)\b")
_STARTED = re.compile(r"^(?P<id>\S+::\S+)\s")
# pytest's last line: `==== 3 passed, 1 failed in 2.31s ====` (absent when the process died).
_SUMMARY = re.compile(r"^=+ .*\bin [\d.]+s\b.*=+\s*$", re.M)
# faulthandler's dump names the test function a crashed thread was in.
_FAULT = re.compile(r'File "(?P<file>[^"]+)", line \d+ in (?P<func>test\w*)')
OUTCOMES = {"PASSED": "passed", "FAILED": "failed", "ERROR": "error", "SKIPPED": "skipped",
            "XFAIL": "xfailed", "XPASS": "xpassed"}
MAX_RESUMES = 8
# The line of a crash's output that says what happened (faulthandler, the kernel, pytest-timeout).
_CRASH_LINES = ("Fatal Python error", "Segmentation", "Timeout")


@dataclass
class Crash:
    test: str | None  # node id, when the output shows which test was running
    status: str       # "signal SIGSEGV", "exit 134"
    detail: str       # the first line of the crash's output


@dataclass
class TestRun:
    threads: int
    outcomes: dict[str, str] = field(default_factory=dict)  # node id -> passed|failed|...
    crashes: list[Crash] = field(default_factory=list)
    returncode: int = 0
    seconds: float = 0.0
    timed_out: bool = False
    log_dir: str = ""
    error: str = ""  # the run did not get to the tests (a usage or collection error): its last line

    def to_dict(self) -> dict:
        return {"threads": self.threads, "returncode": self.returncode, "seconds": round(self.seconds, 1),
                "timed_out": self.timed_out, "error": self.error, "outcomes": self.outcomes,
                "crashes": [c.__dict__ for c in self.crashes]}


def _status(rc: int) -> str:
    if rc < 0:
        try:
            return f"signal {signal.Signals(-rc).name}"
        except ValueError:
            return f"signal {-rc}"
    return f"exit {rc}"


def _crashed(rc: int) -> bool:
    return rc < 0 or rc >= 128


def outcomes_of(stdout: str) -> tuple[dict[str, str], str | None]:
    """The outcome of every test the -v output finished, and the test that started last unfinished."""
    done: dict[str, str] = {}
    last = None
    for line in stdout.splitlines():
        m = _OUTCOME.match(line)
        if m:
            done[m.group("id")] = OUTCOMES[m.group("outcome")]
            last = None
        elif _STARTED.match(line):
            last = _STARTED.match(line).group("id")
    return done, last


def _crashed_test(stdout: str, stderr: str, started: str | None) -> str | None:
    if started:
        return started
    m = _FAULT.search(stderr)
    return m.group("func") if m else None


def run(cmd: list[str] | str, cwd: str, env: dict, threads: int, log_dir: str,
        timeout: float, pytest: bool) -> TestRun:
    """Run the tests (cmd, a pytest command when `pytest`) once, resuming after crashes."""
    out = TestRun(threads, log_dir=log_dir)
    start = time.monotonic()
    skip: list[str] = []
    for attempt in range(MAX_RESUMES + 1):
        left = timeout - (time.monotonic() - start)
        args = cmd + [f"--deselect={t}" for t in skip] if pytest else cmd
        try:
            proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, errors="replace",
                                  timeout=max(left, 1), shell=isinstance(args, str), stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired as e:
            out.timed_out, out.returncode = True, -1
            _save(log_dir, attempt, e.stdout or "", e.stderr or "")
            break
        _save(log_dir, attempt, proc.stdout, proc.stderr)
        out.returncode = proc.returncode
        done, started = outcomes_of(proc.stdout) if pytest else ({}, None)
        out.outcomes.update(done)
        # TSan's own handler reports a crash and exits with its exitcode (0 here): pytest never finished
        died = _crashed(proc.returncode) or (pytest and started is not None and not _SUMMARY.search(proc.stdout))
        if not died:
            if pytest and proc.returncode not in (0, 1) and not out.outcomes:
                lines = [ln for ln in (proc.stderr + proc.stdout).splitlines() if ln.strip()]
                out.error = (lines or ["no output"])[0 if proc.stderr.strip() else -1].strip()
            break
        text = (proc.stderr.strip() or proc.stdout.strip() or "no output").splitlines()
        status = _status(proc.returncode) if _crashed(proc.returncode) else "died before pytest's summary"
        crash = Crash(_crashed_test(proc.stdout, proc.stderr, started), status,
                      next((ln for ln in text if any(k in ln for k in _CRASH_LINES)), text[-1]))
        out.crashes.append(crash)
        if not pytest or crash.test is None or "::" not in crash.test:
            break
        out.outcomes[crash.test] = "crashed"
        skip += [crash.test, *done]
    out.seconds = time.monotonic() - start
    return out


def _save(folder: str, attempt: int, stdout, stderr) -> None:
    os.makedirs(folder, exist_ok=True)
    for name, text in (("stdout", stdout), ("stderr", stderr)):
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")
        with open(os.path.join(folder, f"{name}.{attempt}.txt"), "w", encoding="utf-8") as f:
            f.write(text)


def pytest_command(bindir: str, project: str, extra: list[str] = (), test_timeout: float = 600) -> list[str]:
    """The project's test suite, verbose (outcomes are read from -v lines), without pytest's cache; a test
    still running after test_timeout seconds (a livelock in racing C code) ends the process (pytest-timeout's
    thread method), which counts as a crash of that test, and the run resumes without it."""
    paths = [a for a in extra if not a.startswith("-") and os.path.exists(os.path.join(project, a))]
    tests = [] if paths else default_tests(Path(project))
    return [os.path.join(bindir, "pytest"), "-v", "-p", "no:cacheprovider", "-p", "no:randomly",
            f"--timeout={test_timeout:g}", "--timeout-method=thread", *extra, *tests]


def user_command(command: str, threads: int) -> str:
    """--command with {threads} replaced by N."""
    return command.replace("{threads}", shlex.quote(str(threads)))
