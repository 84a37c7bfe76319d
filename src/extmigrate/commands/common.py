"""Options shared by the commands that scan (scan, fix)."""

from __future__ import annotations

import argparse
import os
import sys

from extmigrate import config
from extmigrate.flags import ConfigError
from extmigrate.scan import ScanOptions


def _csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def add_scan_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="*", default=["."], help="files or directories (default: .)")
    p.add_argument("-p", "--compile-commands-dir", dest="compile_db", metavar="DIR",
                   help="folder holding compile_commands.json (default: the project root or build/)")
    p.add_argument("--select", type=_csv, metavar="CODES", help="rule codes, prefixes, names or categories")
    p.add_argument("--ignore", type=_csv, metavar="CODES", help="rules to leave out (same keys)")
    p.add_argument("--exclude", action="append", metavar="GLOB", default=None, help="skip matching paths")
    p.add_argument("-I", dest="include_dirs", action="append", metavar="DIR", default=None)
    p.add_argument("-D", dest="defines", action="append", metavar="NAME[=VALUE]", default=None)
    p.add_argument("-U", dest="undefines", action="append", metavar="NAME", default=None)
    p.add_argument("--python", metavar="PATH", help="take Python headers from this interpreter")
    p.add_argument("--gil-disabled", action="store_true", default=None,
                   help="analyse the free-threaded branches (-DPy_GIL_DISABLED=1)")
    p.add_argument("-j", "--jobs", type=int, metavar="N", help="worker processes (default: all cores)")
    p.add_argument("--timeout", type=float, metavar="SECONDS", help="time limit per file (default 60)")
    p.add_argument("--no-cache", action="store_true", help="analyse every file again; store nothing")
    p.add_argument("--cache-dir", metavar="DIR",
                   help="result cache folder (default: $XDG_CACHE_HOME/extmigrate)")
    p.add_argument("--baseline", metavar="FILE", help="hide findings recorded in this baseline")
    p.add_argument("--config", metavar="PYPROJECT", help="pyproject.toml to read [tool.extmigrate] from")
    p.add_argument("--no-config", action="store_true", help="ignore [tool.extmigrate]")
    p.add_argument("-v", "--verbose", action="store_true", help="show parse diagnostics")


def scan_options(args: argparse.Namespace) -> tuple[ScanOptions, dict]:
    """Merge command-line flags over [tool.extmigrate]; flags win."""
    settings: dict = {}
    if not args.no_config:
        path = args.config or config.find_pyproject(args.paths)
        settings, _ = config.load(path)
        if settings and path:
            base = os.path.dirname(os.path.abspath(path))
            for key in ("baseline", "compile-commands-dir"):
                if key in settings and not os.path.isabs(settings[key]):
                    settings[key] = os.path.join(base, settings[key])
            settings["include-dirs"] = [d if os.path.isabs(d) else os.path.join(base, d)
                                        for d in settings.get("include-dirs", [])]

    def pick(flag, key, default):
        value = getattr(args, flag, None)
        return value if value is not None else settings.get(key, default)

    opts = ScanOptions(
        paths=args.paths,
        exclude=pick("exclude", "exclude", []),
        select=pick("select", "select", []),
        ignore=pick("ignore", "ignore", []),
        compile_db=pick("compile_db", "compile-commands-dir", None),
        python=pick("python", "python", None),
        include_dirs=pick("include_dirs", "include-dirs", []),
        defines=pick("defines", "defines", []),
        undefines=pick("undefines", "undefines", []),
        gil_disabled=bool(pick("gil_disabled", "gil-disabled", False)),
        jobs=pick("jobs", "jobs", 0),
        timeout=float(pick("timeout", "timeout", 60.0)),
        baseline=pick("baseline", "baseline", None),
        cache=not getattr(args, "no_cache", False),
        cache_dir=getattr(args, "cache_dir", None),
    )
    bad = _unknown_keys(opts.select + opts.ignore)
    if bad:
        raise ConfigError(f"unknown rule code or name: {', '.join(bad)} (see `extmigrate rules`)")
    if opts.jobs < 0:
        raise ConfigError("--jobs must be 0 (all cores) or more")
    if opts.timeout <= 0:
        raise ConfigError("--timeout must be positive")
    return opts, settings


def _unknown_keys(keys: list[str]) -> list[str]:
    if not keys:
        return []  # the rules are loaded only when a scan needs them
    from extmigrate.rules import unknown_keys
    return unknown_keys(keys)


class Progress:
    """A one-line progress bar on stderr: `[####....] 12/40 files`, cleared when the scan ends."""

    MIN_FILES = 5  # fewer files finish before a bar would be worth seeing
    WIDTH = 30

    def __init__(self, stream):
        self.stream = stream
        self.shown = False

    def __call__(self, done: int, total: int) -> None:
        if total < self.MIN_FILES:
            return
        filled = int(self.WIDTH * done / total)
        self.stream.write(f"\r[{'#' * filled}{'.' * (self.WIDTH - filled)}] {done}/{total} files")
        self.stream.flush()
        self.shown = True
        if done >= total:
            self.close()

    def close(self) -> None:
        if self.shown:
            self.stream.write("\r" + " " * (self.WIDTH + 30) + "\r")
            self.stream.flush()
            self.shown = False


def progress_printer(enabled: bool) -> Progress | None:
    """A progress bar on stderr, only when stderr is a terminal."""
    if not enabled or not sys.stderr.isatty():
        return None
    return Progress(sys.stderr)
