"""`extmigrate verify [PROJECT] --python PY`: build, import and test the project free-threaded."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from extmigrate.flags import ConfigError


def add_parser(sub) -> None:
    p = sub.add_parser(
        "verify", help="BUILDS AND RUNS the project: wheel, imports and tests in threads (vs a baseline)",
        description="Unlike scan and fix, this BUILDS AND RUNS THE PROJECT: in a fresh venv of --python it "
                    "builds the project's wheel (`pip wheel`, isolated build), installs it with pytest and "
                    "pytest-run-parallel, imports each extension module of the wheel alone (failing on one "
                    "that re-enables the GIL), and runs the project's tests with PYTHON_GIL=0 in --threads "
                    "threads. With --baseline (a folder or a git ref) it does the same there and compares: "
                    "fewer extension modules, missing or newly skipped tests and new failures fail. "
                    "Exit 0: verified, 1: a check failed, 2: usage error. See docs/verify.md.")
    p.add_argument("project", nargs="?", default=".", metavar="PROJECT",
                   help="folder with the project's pyproject.toml or setup.py (default: .)")
    p.add_argument("--python", required=True, metavar="PY", help="interpreter to build and test with, "
                   "e.g. python3.14t")
    p.add_argument("--threads", type=int, default=4, metavar="N",
                   help="threads per test (pytest-run-parallel --parallel-threads; default 4, 1: plain)")
    p.add_argument("--baseline", metavar="DIR|GITREF", help="the unpatched tree: a folder or a git ref")
    p.add_argument("--tests", action="append", default=None, metavar="PATH",
                   help="pytest paths, relative to PROJECT (default: pytest's testpaths, else tests/ or test/)")
    p.add_argument("--with", dest="requirements", action="append", default=None, metavar="REQ",
                   help="another requirement the tests need (besides the wheel's test extra)")
    p.add_argument("--no-test-extra", action="store_true",
                   help="do not install the wheel's test/tests/testing extra (name every need with --with)")
    p.add_argument("--ignore-requires-python", action="store_true",
                   help="build and install although the project's requires-python excludes --python "
                        "(a release that predates it)")
    p.add_argument("--pytest-arg", dest="pytest_args", action="append", default=None, metavar="ARG",
                   help="passed on to pytest, e.g. --pytest-arg=-x")
    p.add_argument("--thread-unsafe", dest="thread_unsafe", action="append", default=None, metavar="NAME",
                   help="a test fixture (`reader`) or a dotted function (`gc.collect`) that makes a test unsafe "
                        "to run in threads: tests using it run in one thread, in both trees "
                        "(pytest-run-parallel's thread_unsafe_fixtures / thread_unsafe_functions)")
    p.add_argument("--timeout", type=float, default=1800, metavar="SECONDS",
                   help="time limit of each build and each test run (default 1800)")
    p.add_argument("--workdir", metavar="DIR", help="where venvs, wheels and logs go (default: a temp folder)")
    p.add_argument("--keep-venvs", action="store_true", help="keep the venvs (by default only logs and wheels)")
    p.add_argument("--format", choices=["text", "json"], default="text")
    p.set_defaults(run=run)


def run(args) -> int:
    from extmigrate.runtime import verify as V

    settings = V.Settings(python=args.python, threads=args.threads, tests=args.tests or [],
                          requirements=args.requirements or [],
                          pytest_args=(args.pytest_args or []) + V.thread_unsafe_args(args.thread_unsafe or []),
                          test_extra=not args.no_test_extra, ignore_requires_python=args.ignore_requires_python,
                          build_timeout=args.timeout, test_timeout=args.timeout)
    if args.format == "text":
        print(f"extmigrate verify: building and running {args.project} with {args.python} "
              f"(logs in {args.workdir or 'a temp folder'})", file=sys.stderr)
    try:
        doc = V.run(Path(args.project), settings, args.baseline,
                    Path(args.workdir) if args.workdir else None, keep_venvs=args.keep_venvs)
    except V.UsageError as e:
        raise ConfigError(str(e)) from None
    if args.format == "json":
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
    else:
        sys.stdout.write(text(doc))
    return 0 if doc["ok"] else 1


def _tree_lines(t: dict, threads: int) -> list[str]:
    lines = [f"{t['path']}:"]
    if t["wheel"]:
        lines.append(f"  wheel    {Path(t['wheel']).name} ({len(t['extension_modules'])} extension modules)")
    for i in t["imports"]:
        state = ("import failed: " + i["error"] if i["error"] else
                 "RE-ENABLED THE GIL" if i["enabled_gil"] else
                 "GIL stays off" if i["enabled_gil"] is False else "imports (GIL build: GIL check n/a)")
        lines.append(f"  import   {i['module']}: {state}")
    c = t["tests"]
    if c:
        if c["crashed"]:
            lines.append(f"  tests    CRASHED (exit {c['returncode']}), log: {c['log']}")
        elif c["stopped"]:
            lines.append(f"  tests    pytest STOPPED ({c['stopped']}) after {c['collected']} tests, log: {c['log']}")
        else:
            lines.append(f"  tests    {c['collected']} collected: {c['passed']} passed, {c['failed']} failed, "
                         f"{c['error']} errors, {c['skipped']} skipped ({threads} threads)")
            lines += [f"           {o}: {tid}" for tid, o in list(c["not_passed"].items())[:10]]
    if t["error"]:
        lines.append(f"  {t['failed_step']} FAILED: {t['error']}")
    return lines


def text(doc: dict) -> str:
    ft = {True: "free-threaded", None: "GIL build: the GIL check does not apply"}[doc["free_threaded"]]
    lines = [f"python {doc['python']} ({ft}), {doc['threads']} threads per test"]
    lines += _tree_lines(doc["project"], doc["threads"])
    if doc["baseline"]:
        lines += ["baseline " + line if i == 0 else line
                  for i, line in enumerate(_tree_lines(doc["baseline"], doc["threads"]))]
    cmp = doc["comparison"] or {}
    if "counts" in cmp:
        b, n = cmp["baseline_counts"], cmp["counts"]
        lines.append(f"compared: tests {b['collected']} -> {n['collected']}, passed {b['passed']} -> {n['passed']}, "
                     f"fixed {len(cmp['fixed'])}, still failing {len(cmp['still_failing'])}")
    if doc["ok"]:
        lines.append("verified")
    else:
        lines += [f"FAILED: {p}" for p in doc["problems"]]
    return "\n".join(lines) + "\n"
