"""`extmigrate stress PROJECT --python PY`: run the tests in threads (and under ThreadSanitizer) and
join what races with the static findings. Unlike `scan`, this builds and runs the project's code."""

from __future__ import annotations

import os
import shlex
import sys

from extmigrate.fileio import STDOUT, WriteRefused, write_file
from extmigrate.flags import ConfigError


def add_parser(sub) -> None:
    p = sub.add_parser("stress", help="build and run the tests in 1 and N threads (--tsan: under "
                                      "ThreadSanitizer) and join the races with the findings",
                       description="Builds PROJECT for a free-threaded interpreter in a fresh venv, runs "
                                   "its tests (or --command) with PYTHON_GIL=0 under pytest-run-parallel, "
                                   "once in 1 thread and once in N, and with --tsan reads ThreadSanitizer's "
                                   "reports: findings confirmed by a race, races no rule reported, "
                                   "findings not exercised. This runs the project's code. Exit 0: no race "
                                   "and no failure or crash that only threads cause; 1: some; 2: usage, "
                                   "build or interpreter error.")
    p.add_argument("project", nargs="?", default=".", help="the project folder (default: .)")
    p.add_argument("--python", required=True, metavar="PY", help="a free-threaded interpreter (python3.14t); "
                                                                  "with --tsan a ThreadSanitizer build")
    p.add_argument("--threads", type=int, default=4, metavar="N", help="threads of the parallel run (default 4)")
    p.add_argument("--tsan", action="store_true", help="build with -fsanitize=thread and read TSan's reports")
    p.add_argument("--command", metavar="CMD", help="run this instead of the project's pytest suite, in the "
                                                    "project folder with the venv first on PATH; {threads} is N")
    p.add_argument("--pytest-args", metavar="ARGS", default="",
                   help="more arguments for the project's pytest run (e.g. \"-k stress tests/test_x.py\")")
    p.add_argument("--format", choices=["text", "json", "sarif"], default="text")
    p.add_argument("-o", "--output", metavar="FILE", help="write the report here instead of stdout")
    p.add_argument("--work-dir", metavar="DIR", help="keep the venv, build log and TSan logs here (reused)")
    p.add_argument("--timeout", type=float, default=3600, metavar="SECONDS", help="per run (default 3600)")
    p.add_argument("--test-timeout", type=float, default=600, metavar="SECONDS",
                   help="per test (pytest-timeout): a hung test counts as a crash (default 600)")
    p.set_defaults(run=run)


def run(args) -> int:
    from extmigrate.reporters.stress_report import FORMATS, summary
    from extmigrate.runtime.build_env import BuildError
    from extmigrate.runtime.stress import Settings, stress

    if not os.path.isdir(args.project):
        raise ConfigError(f"{args.project}: not a project folder")
    if args.threads < 2:
        raise ConfigError("--threads must be at least 2 (the runs compare 1 thread with N)")
    try:
        pytest_args = shlex.split(args.pytest_args)
    except ValueError as e:
        raise ConfigError(f"--pytest-args: {e}") from None
    settings = Settings(args.project, args.python, args.threads, args.tsan, args.command,
                        args.work_dir, timeout=args.timeout, pytest_args=pytest_args,
                        test_timeout=args.test_timeout)
    try:
        result = stress(settings, progress=lambda m: print(f"extmigrate stress: {m}", file=sys.stderr))
    except BuildError as e:
        raise ConfigError(str(e)) from None
    report = FORMATS[args.format](result)
    if args.output and args.output != STDOUT:
        try:
            write_file(args.output, report.encode("utf-8"))
        except OSError as e:
            raise ConfigError(f"cannot write {args.output}: {e.strerror or e}") from None
        except WriteRefused as e:
            raise ConfigError(str(e)) from None
        print(summary(result), file=sys.stderr)
    else:
        sys.stdout.write(report)
    bad = result.races or result.thread_only_failures or result.thread_only_crashes
    return 1 if bad else 0
