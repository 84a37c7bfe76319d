"""What `fix` would do, counted for `scan`'s summary: the same remedies (the late ones too) and the
same plan (conflicts, declarations, the compat header), with and without --unsafe-fixes.

Counting runs the late remedies and the plan (libclang, jinja2); a scan served whole from the cache
reads the counts the scan that filled it stored beside it (keyed by that scan, the findings left
after suppressions and baseline, and min-python), so a warm scan stays light."""

from __future__ import annotations

import hashlib
import json
import os

from extmigrate import __version__


def min_python(value: str | None, settings: dict, paths: list[str]) -> tuple[tuple[int, int] | None, str]:
    """The oldest supported Python: --min-python, else `min-python` in [tool.extmigrate], else the
    project's requires-python; and where it came from."""
    from extmigrate.fix import compat
    from extmigrate.flags import ConfigError

    for v, where in ((value, "--min-python"), (settings.get("min-python"), "min-python")):
        if v:
            parsed = compat.parse_version(v)
            if parsed is None:
                raise ConfigError(f"{where} {v!r}: expected X.Y, e.g. 3.9")
            return parsed, where
    return compat.project_min_python(paths[0] if paths else ".")


def fixable(result, opts, settings: dict) -> tuple[int, int]:
    """(findings `fix` fixes, findings `fix --unsafe-fixes` fixes) with these options."""
    if not result.findings:
        return 0, 0
    stored = _stored(result, opts, settings)
    if stored and os.path.isfile(stored):
        try:
            with open(stored, encoding="utf-8") as f:
                safe, unsafe = json.load(f)
            return int(safe), int(unsafe)
        except (OSError, ValueError, TypeError):
            pass
    counts = _count(result, opts, settings)
    if stored:
        from extmigrate.fileio import WriteRefused, write_file

        try:
            os.makedirs(os.path.dirname(stored), exist_ok=True)
            write_file(stored, json.dumps(list(counts)).encode(), durable=False)
        except (OSError, WriteRefused):
            pass  # a cache that cannot be written only costs time
    return counts


def _count(result, opts, settings: dict) -> tuple[int, int]:
    from extmigrate.fix.late import propose_late
    from extmigrate.fix.patch import PlanOptions, plan

    propose_late(result, opts)
    oldest, source = min_python(None, settings, opts.paths)
    counts = []
    for unsafe in (False, True):
        pl = plan(result.findings, PlanOptions(unsafe=unsafe, min_python=oldest, min_python_source=source),
                  result.low_confidence)
        counts.append(len(pl.fixed) + len(pl.along))
    return counts[0], counts[1]


def _stored(result, opts, settings: dict) -> str | None:
    """The file holding the counts for this scan outcome, when the scan cache is on."""
    if not getattr(result, "scan_key", None) or not opts.cache:
        return None
    from extmigrate.cache import default_dir

    h = hashlib.sha256()
    for part in (__version__, result.scan_key, str(settings.get("min-python") or "")):
        h.update(part.encode("utf-8", "surrogateescape") + b"\0")
    for f in result.findings:
        h.update(f"{f.code}:{f.path}:{f.line}:{f.column}\0".encode("utf-8", "surrogateescape"))
    return os.path.join(opts.cache_dir or default_dir(), "fixable", h.hexdigest() + ".json")
