"""Parse one translation unit with libclang and collect its diagnostics."""

from __future__ import annotations

import os

from clang import cindex

from extmigrate.flags import TUSpec
from extmigrate.model import Diagnostic

PARSE_KEEP_GOING = 0x200  # CXTranslationUnit_KeepGoing: a missing header does not stop the parse
OPTIONS = cindex.TranslationUnit.PARSE_DETAILED_PROCESSING_RECORD | PARSE_KEEP_GOING
_SEVERITY = {cindex.Diagnostic.Error: "error", cindex.Diagnostic.Fatal: "fatal"}

_index: cindex.Index | None = None


def index() -> cindex.Index:
    global _index
    if _index is None:
        _index = cindex.Index.create()
    return _index


def parse(spec: TUSpec, extra_args: list[str] | None = None) -> cindex.TranslationUnit:
    args = list(spec.args) + ["-w", "-ferror-limit=50"] + list(extra_args or [])
    if spec.directory and not any(a.startswith("-working-directory") for a in args):
        args.append(f"-working-directory={spec.directory}")
    return index().parse(spec.path, args=args, options=OPTIONS)


def include_dirs(args: list[str]) -> list[str]:
    out, i = [], 0
    while i < len(args):
        a = args[i]
        if a in ("-I", "-isystem", "-iquote", "-idirafter") and i + 1 < len(args):
            out.append(args[i + 1])
            i += 2
            continue
        if a.startswith("-I") and len(a) > 2:
            out.append(a[2:])
        elif a.startswith("-isystem") and len(a) > 8:
            out.append(a[8:])
        i += 1
    return out


def diagnostics(tu: cindex.TranslationUnit, spec: TUSpec) -> list[Diagnostic]:
    """Errors and fatal errors; a missing include names the directories that were searched."""
    out: list[Diagnostic] = []
    searched = None
    for d in tu.diagnostics:
        sev = _SEVERITY.get(d.severity)
        if sev is None:
            continue
        loc = d.location
        msg = d.spelling
        if "file not found" in msg:
            if searched is None:
                dirs = include_dirs(spec.args)
                searched = ", ".join(dirs) if dirs else "(no -I directories)"
            msg = f"{msg} (searched: {searched})"
        path = loc.file.name if loc.file else spec.path
        out.append(Diagnostic(os.path.abspath(path), loc.line, loc.column, sev, msg))
    return out
