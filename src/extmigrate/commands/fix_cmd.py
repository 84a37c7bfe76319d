"""`extmigrate fix`: print the fixes as a unified diff; --apply writes them."""

from __future__ import annotations

import os
import sys

from extmigrate.commands.common import add_scan_options, progress_printer, scan_options
from extmigrate.config import project_roots
from extmigrate.fileio import WriteRefused, write_file
from extmigrate.fix.counts import min_python
from extmigrate.fix.compilecheck import check, database_compilers
from extmigrate.fix.late import propose_late
from extmigrate.fix.patch import PlanOptions, plan, unified_diff
from extmigrate.flags import ConfigError, find_database
from extmigrate.scan import scan


def add_parser(sub) -> None:
    p = sub.add_parser("fix", help="propose (and with --apply, write) fixes as a unified diff",
                       description="Print the fixes for the findings as a unified diff (a dry run) or "
                                   "write them with --apply. Exit 0: nothing left to fix, 1: diffs "
                                   "proposed or findings remain, 2: usage or configuration error.")
    add_scan_options(p)
    p.add_argument("--apply", action="store_true", help="write the changes (atomically, per file)")
    p.add_argument("--unsafe-fixes", action="store_true", help="also the fixes that need review")
    p.add_argument("--declare", action="store_true",
                   help="declare modules GIL-free even while other findings remain")
    p.add_argument("--min-python", metavar="X.Y",
                   help="oldest supported Python (default: requires-python of the project)")
    p.add_argument("--root", metavar="DIR", help="diff paths are relative to this folder (default: .)")
    p.add_argument("--check-compile", action="store_true",
                   help="compile every patched file against the oldest and newest Python headers")
    p.add_argument("--cc", metavar="COMPILER",
                   help="compiler for --check-compile (default: the compile database's, $CC or cc)")
    p.add_argument("--python-headers", action="append", metavar="DIR",
                   help="Python include dir for --check-compile (repeatable; default: found ones)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    p.set_defaults(run=run)


NEXT_RUN = "left for the next run"  # fix/patch.py: an overlapping fix that lands once the first is written
MAX_ROUNDS = 3


def _rel(path: str) -> str:
    rel = os.path.relpath(path)
    return path if rel.startswith("..") else rel


def _vendored_notes(skipped, err) -> None:
    """One line per vendored folder: what was found there and left alone."""
    found: dict[str, list] = {}
    for f, why in skipped:
        if f.data.get("vendored"):
            found.setdefault(f.data["vendored"], []).append((f, why))
    for folder, items in sorted(found.items()):
        codes = sorted({f.code for f, _ in items})
        why = items[0][1].removesuffix(": left alone")
        print(f"note: {_rel(folder)}: {why}; {len(items)} finding(s) there left alone "
              f"({', '.join(codes)})", file=err)


def run(args) -> int:
    opts, settings = scan_options(args)
    for p in opts.paths:
        if not os.path.exists(p):
            raise ConfigError(f"{p}: no such file or directory")
    root = os.path.abspath(args.root or ".")
    min_py, source = min_python(args.min_python, settings, args.paths)
    result = scan(opts, progress=progress_printer(not args.no_progress))
    propose_late(result, opts)
    inside = project_roots(opts.paths)
    popts = PlanOptions(unsafe=args.unsafe_fixes, declare=args.declare, min_python=min_py,
                        min_python_source=source, for_write=args.apply, inside=inside)
    pl = plan(result.findings, popts, result.low_confidence)
    err = sys.stderr
    for path, msg in result.problems:
        print(f"{_rel(path)}: skipped: {msg}", file=err)
    for path, msg in pl.problems:
        print(f"{_rel(path)}: not changed: {msg}", file=err)
    failures: list[str] = []
    if args.check_compile and pl.patches:
        db = find_database(opts.paths, opts.compile_db)
        apis = {a for f in pl.fixed for a in f.fix.get("apis", [])}
        checked, failures = check(pl.patches, result.specs, min_py, args.cc, args.python_headers,
                                  database_compilers(db), apis)
        for c in checked:
            print(f"{'compile check' if ': not checked' in c else 'compiled'}: {_rel(c)}", file=err)
        for fail in failures:
            print(f"compile check failed: {fail}", file=err)
    written = 0
    if args.apply:
        if failures:
            print("nothing written: the compile check failed", file=err)
        else:
            for p in pl.patches:  # the compat header comes first; stop at the first failure
                try:
                    write_file(p.path, p.new, expect=None if p.is_new else p.old, inside=inside)
                    written += 1
                except (WriteRefused, OSError) as e:
                    why = str(e) if isinstance(e, WriteRefused) else f"{_rel(p.path)}: {e.strerror or e}"
                    print(f"not changed: {why}; stopped after {written} file(s)", file=err)
                    failures.append(why)
                    break
    else:
        outside = [p.path for p in pl.patches if os.path.relpath(p.path, root).startswith("..")]
        if outside:
            print(f"warning: {_rel(outside[0])} lies outside {root}: pass --root so that the diff "
                  "applies with git apply / patch -p1", file=err)
        sys.stdout.write("".join(unified_diff(p, root) for p in pl.patches))
    for f, why in pl.skipped:
        print(f"{_rel(f.path)}:{f.line}:{f.column}: {f.code} not fixed: {why}", file=err)
    for f, note in pl.notes:
        print(f"{_rel(f.path)}:{f.line}:{f.column}: {f.code} {note}", file=err)
    _vendored_notes(pl.skipped, err)
    verb = "fixed" if args.apply else "fixable"
    oldest = f"oldest Python {'.'.join(map(str, min_py))} from {source}" if min_py else source
    tail = f"; compat header {_rel(pl.compat_header)} ({' '.join(pl.compat_apis)}; {oldest})" \
        if pl.compat_header else ""
    files = f"{written} file(s) written" if args.apply else f"{len(pl.patches)} file(s) to change"
    print(f"{len(pl.fixed) + len(pl.along)} finding(s) {verb}, {len(pl.skipped)} left; {files}{tail}.", file=err)
    later = sum(NEXT_RUN in why for _, why in pl.skipped)
    rounds = getattr(args, "fix_round", 1)
    if args.apply and written and not failures and later and rounds < MAX_ROUNDS:
        print(f"fix: another round for the {later} fix(es) left for the next run (round {rounds + 1} "
              f"of at most {MAX_ROUNDS})", file=err)
        args.fix_round = rounds + 1
        return run(args)
    if failures or pl.skipped or pl.problems:
        return 1
    return 0 if args.apply or not pl.patches else 1
