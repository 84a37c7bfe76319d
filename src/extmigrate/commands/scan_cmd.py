"""`extmigrate scan`: report free-threading hazards."""

from __future__ import annotations

import os
import sys

from extmigrate.commands.common import add_scan_options, progress_printer, scan_options
from extmigrate.fileio import STDOUT, WriteRefused, write_file
from extmigrate.flags import ConfigError
from extmigrate.reporters import FORMATS, STATISTICS
from extmigrate.reporters.text import summary
from extmigrate.scan import baseline_root, scan
from extmigrate.suppress import BaselineError, write_baseline


def add_parser(sub) -> None:
    p = sub.add_parser("scan", help="report free-threading hazards in C/C++ sources",
                       description="Report free-threading hazards. Exit 0: clean, 1: findings, "
                                   "2: usage or configuration error.")
    add_scan_options(p)
    p.add_argument("--format", choices=sorted(FORMATS), default="text")
    p.add_argument("-o", "--output", metavar="FILE",
                   help="write the report here instead of stdout (-: stdout; devices and FIFOs are "
                        "written in place, a symlink's target is replaced)")
    p.add_argument("--write-baseline", metavar="FILE",
                   help="record every current finding in a baseline file (exit 0)")
    p.add_argument("--exit-zero", action="store_true",
                   help="exit 0 even when there are findings (usage and configuration errors still exit 2)")
    p.add_argument("--statistics", action="store_true",
                   help="print the number of findings per rule instead of the findings (text or json)")
    p.add_argument("-q", "--quiet", action="store_true",
                   help="print the findings only: no summary, no progress bar, no notes on stderr")
    p.add_argument("--color", choices=["auto", "always", "never"], default="auto")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    p.set_defaults(run=run)


def run(args) -> int:
    if args.statistics and args.format not in STATISTICS:
        raise ConfigError(f"--statistics works with --format {' or '.join(sorted(STATISTICS))}")
    opts, settings = scan_options(args)
    for p in opts.paths:
        if not os.path.exists(p) and not os.path.islink(p):
            raise ConfigError(f"{p}: no such file or directory")
    if args.write_baseline:
        opts.baseline = None  # the new baseline records every current finding
    progress = progress_printer(not args.no_progress and not args.quiet)
    try:
        result = scan(opts, progress=progress)
    except BaselineError as e:
        raise ConfigError(str(e)) from None
    finally:
        if progress:
            progress.close()
    if (args.format == "text" or args.output) and not args.write_baseline:
        from extmigrate.fix.counts import fixable  # the summary says what `fix` would do, exactly
        result.fixable = fixable(result, opts, settings)
    if args.write_baseline:
        _write(args.write_baseline, lambda: write_baseline(args.write_baseline, result.findings,
                                                           baseline_root(args.write_baseline)))
        if not args.quiet:
            print(f"wrote {len(result.findings)} finding(s) to baseline {args.write_baseline}", file=sys.stderr)
        return 0
    to_file = args.output not in (None, STDOUT)
    colour = args.color == "always" or (args.color == "auto" and not to_file and sys.stdout.isatty()
                                        and not os.environ.get("NO_COLOR"))
    render = STATISTICS[args.format] if args.statistics else FORMATS[args.format]
    report = render(result, colour=colour, verbose=args.verbose, quiet=args.quiet)
    if to_file:
        _write(args.output, lambda: write_file(args.output, report.encode("utf-8", "surrogateescape")))
        if not args.quiet:
            print(summary(result), file=sys.stderr)
    else:
        try:
            sys.stdout.write(report)
        except UnicodeEncodeError:  # a file name that is not UTF-8, on a strict stdout
            sys.stdout.write(report.encode("utf-8", "surrogateescape").decode("utf-8", "replace"))
    return 1 if result.findings and not args.exit_zero else 0


def _write(path: str, write) -> None:
    try:
        write()
    except OSError as e:
        raise ConfigError(f"cannot write {path}: {e.strerror or e}") from None
    except WriteRefused as e:
        raise ConfigError(str(e)) from None
