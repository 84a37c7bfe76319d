"""`--format json`: the stable schema documented in docs/json-schema.md."""

from __future__ import annotations

import json

from extmigrate import __version__
from extmigrate.scan import ScanResult

SCHEMA_VERSION = 1
FIELDS = ("code", "name", "category", "severity", "path", "line", "column", "end_line",
          "end_column", "function", "symbol", "message", "explanation", "action", "related",
          "fixable", "fix")


def finding_dict(f) -> dict:
    d = f.to_dict()
    d["rule"] = f.code
    return {"rule": f.code, **{k: d[k] for k in FIELDS}}


def render(result: ScanResult, **_: object) -> str:
    doc = {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "extmigrate", "version": __version__},
        "summary": {
            "findings": len(result.findings),
            "files_scanned": result.files_scanned,
            "files_with_parse_errors": len(result.files_with_errors),
            "suppressed": result.suppressed,
            "baselined": result.baselined,
        },
        "findings": [finding_dict(f) for f in result.findings],
        "problems": [{"path": p, "message": m} for p, m in result.problems],
        "diagnostics": [d.to_dict() for d in result.diagnostics],
        "cython_skipped": result.cython,
    }
    return json.dumps(doc, indent=2) + "\n"
