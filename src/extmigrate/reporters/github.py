"""`--format github`: GitHub Actions workflow commands, one annotation per finding.

`::warning file=src/a.c,line=3,col=26,endLine=3,endColumn=35,title=FT201::message`, escaped as
actions/toolkit does: `%`, CR and LF in the message; also `:` and `,` in property values.
"""

from __future__ import annotations

import os

from extmigrate.scan import ScanResult

_COMMAND = {"error": "error", "warning": "warning", "note": "notice"}


def escape_data(s: str) -> str:
    return s.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(s: str) -> str:
    return escape_data(s).replace(":", "%3A").replace(",", "%2C")


def _path(path: str) -> str:
    """Relative to the working folder (the checkout in a workflow), else as given."""
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return path
    return path if rel.startswith("..") else rel.replace(os.sep, "/")


def command(kind: str, message: str, **props: object) -> str:
    fields = ",".join(f"{k}={escape_property(str(v))}" for k, v in props.items() if v is not None)
    return f"::{kind} {fields}::{escape_data(message)}" if fields else f"::{kind}::{escape_data(message)}"


def render(result: ScanResult, **_: object) -> str:
    out = []
    for f in result.findings:
        same_line = f.end_line == f.line and f.end_column > f.column
        out.append(command(
            _COMMAND.get(f.severity, "warning"), f"{f.message}\nfix: {f.action}",
            file=_path(f.path), line=f.line, col=f.column,
            endLine=max(f.end_line, f.line), endColumn=f.end_column if same_line else None,
            title=f"{f.code} {f.name}"))
    for path, msg in result.problems:
        out.append(command("notice", f"skipped: {msg}", file=_path(path), title="extmigrate"))
    return "".join(line + "\n" for line in out)
