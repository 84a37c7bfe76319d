"""`extmigrate verify-import MODULE...`: does importing these modules re-enable the GIL?"""

from __future__ import annotations

import json
import sys

from extmigrate.flags import ConfigError
from extmigrate.runtime.verify_import import VerifyError, verify


def add_parser(sub) -> None:
    p = sub.add_parser("verify-import", help="import modules in a child interpreter and report the GIL state",
                       description="Imports each module in order in a child interpreter and reports whether "
                                   "the GIL was on before and after each import. Exit 1 when the GIL ended up "
                                   "enabled on a free-threaded build or an import failed.")
    p.add_argument("modules", nargs="+", metavar="MODULE")
    p.add_argument("--python", metavar="PATH", help="interpreter to use (default: this one)")
    p.add_argument("--format", choices=["text", "json"], default="text")
    p.set_defaults(run=run)


def run(args) -> int:
    try:
        report = verify(args.modules, args.python)
    except VerifyError as e:
        raise ConfigError(str(e)) from None
    if args.format == "json":
        sys.stdout.write(json.dumps({**report.data, "failed": report.failed}, indent=2) + "\n")
    else:
        sys.stdout.write(report.text())
    return 1 if report.failed else 0
