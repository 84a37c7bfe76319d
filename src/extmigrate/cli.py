"""The `extmigrate` command line: one module per subcommand under extmigrate.commands."""

from __future__ import annotations

import argparse
import importlib
import sys

from extmigrate import __version__
from extmigrate.flags import ConfigError

# Each module has add_parser(subparsers) and run(args) -> exit code.
COMMANDS = ["scan_cmd", "rules_cmd", "fix_cmd", "verify_import_cmd", "wheel_check_cmd", "init_ci_cmd"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="extmigrate",
        description="Find and fix free-threading (PEP 703) hazards in CPython C extensions.",
    )
    parser.add_argument("--version", action="version", version=f"extmigrate {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        mod = importlib.import_module(f"extmigrate.commands.{name}")
        mod.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # argparse: --help (0) or a usage error (2)
        return e.code if isinstance(e.code, int) else 2
    if not getattr(args, "run", None):
        parser.print_help()
        return 2
    try:
        return args.run(args)
    except ConfigError as e:
        print(f"extmigrate: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("extmigrate: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 1
