"""The `extmigrate` command line: one module per subcommand under extmigrate.commands."""

from __future__ import annotations

import argparse
import importlib
import sys

from extmigrate import __version__
from extmigrate.flags import ConfigError

# Each module has add_parser(subparsers) and run(args) -> exit code.
COMMANDS = ["scan_cmd", "rules_cmd", "fix_cmd", "verify_import_cmd", "wheel_check_cmd", "init_ci_cmd",
            "verify_cmd", "stress_cmd"]


def _command_of(argv: list[str]) -> str | None:
    """The module of the subcommand argv names (`scan` -> scan_cmd), if it names one."""
    first = next((a for a in argv if not a.startswith("-")), None)
    module = f"{first.replace('-', '_')}_cmd" if first else None
    return module if module in COMMANDS else None


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser; with argv, only the subcommand it names is imported (a warm scan's start-up)."""
    parser = argparse.ArgumentParser(
        prog="extmigrate",
        description="Find and fix free-threading (PEP 703) hazards in CPython C extensions.",
    )
    parser.add_argument("--version", action="version", version=f"extmigrate {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    only = _command_of(argv) if argv is not None else None
    for name in [only] if only else COMMANDS:
        mod = importlib.import_module(f"extmigrate.commands.{name}")
        mod.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser(sys.argv[1:] if argv is None else argv)
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
