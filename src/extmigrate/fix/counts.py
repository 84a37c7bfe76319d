"""What `fix` would do, counted for `scan`'s summary: the same remedies (the late ones too) and the
same plan (conflicts, declarations, the compat header), with and without --unsafe-fixes."""

from __future__ import annotations

from extmigrate.fix import compat
from extmigrate.fix.late import propose_late
from extmigrate.fix.patch import PlanOptions, plan
from extmigrate.flags import ConfigError
from extmigrate.scan import ScanOptions, ScanResult


def min_python(value: str | None, settings: dict, paths: list[str]) -> tuple[tuple[int, int] | None, str]:
    """The oldest supported Python: --min-python, else `min-python` in [tool.extmigrate], else the
    project's requires-python; and where it came from."""
    for v, where in ((value, "--min-python"), (settings.get("min-python"), "min-python")):
        if v:
            parsed = compat.parse_version(v)
            if parsed is None:
                raise ConfigError(f"{where} {v!r}: expected X.Y, e.g. 3.9")
            return parsed, where
    return compat.project_min_python(paths[0] if paths else ".")


def fixable(result: ScanResult, opts: ScanOptions, settings: dict) -> tuple[int, int]:
    """(findings `fix` fixes, findings `fix --unsafe-fixes` fixes) with these options."""
    if not any(f.fix is not None or "fix_reason" not in f.data for f in result.findings):
        return 0, 0
    propose_late(result, opts)
    oldest, source = min_python(None, settings, opts.paths)
    counts = []
    for unsafe in (False, True):
        pl = plan(result.findings, PlanOptions(unsafe=unsafe, min_python=oldest, min_python_source=source))
        counts.append(len(pl.fixed) + len(pl.along))
    return counts[0], counts[1]
