"""The remedy interface: rules find, remedies rewrite.

A remedy is registered for one or more rule codes and runs in the worker while the TU is alive:

    @remedy("FT201")
    def slot(tu: TUView, finding: Finding, ctx: FixContext) -> FixProposal | NoFix | None: ...

It returns a FixProposal (edits as byte offsets into the files the TU read, plus the newer C APIs
the edits use, for the compat header), NoFix(reason) when the shape cannot be rewritten safely, or
None ("no mechanical remedy").  Snippets come from jinja2 templates named after the rule module:
templates/<rule_module>.c.j2 (ctx.render / ctx.macro).  Edit texts use "\n"; the patch layer turns
them into the file's own newline style.
"""

from __future__ import annotations

import hashlib
import importlib
import pkgutil
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

import jinja2

from extmigrate.model import Finding
from extmigrate.tree import TUView

APPLICABILITY = ("safe", "unsafe")


@dataclass(frozen=True)
class Edit:
    path: str  # absolute path, as libclang reported it
    start: int  # byte offsets into the file as it was parsed
    end: int
    text: str
    # Statements this edit runs just before the exit statement it wraps (`{ RUN return x; }`):
    # another fix wrapping the same exit merges with it (patch.py) instead of conflicting.
    run: str = ""

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        if not self.run:
            del d["run"]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Edit":
        return cls(d["path"], int(d["start"]), int(d["end"]), d["text"], d.get("run", ""))


@dataclass
class FixProposal:
    applicability: str  # "safe" keeps behaviour; "unsafe" needs review (--unsafe-fixes)
    description: str
    edits: list[Edit]
    apis: list[str] = field(default_factory=list)  # newer APIs used -> compat header fallbacks
    # Declares the module GIL-free (FT201/FT202): proposed only once nothing else blocks it.
    declaration: bool = False

    def to_dict(self, hashes: dict[str, str]) -> dict[str, Any]:
        assert self.applicability in APPLICABILITY, self.applicability
        return {"applicability": self.applicability, "description": self.description,
                "edits": [e.to_dict() for e in self.edits], "apis": sorted(set(self.apis)),
                "declaration": self.declaration, "hashes": hashes}


@dataclass
class NoFix:
    reason: str  # why no mechanical remedy exists for this finding; shown by `extmigrate fix`


Remedy = Callable[[TUView, Finding, "FixContext"], "FixProposal | NoFix | None"]
_REMEDIES: dict[str, Remedy] = {}
_loaded = False


def remedy(*codes: str):
    """Register a function, or a class whose instances are callable, as the remedy for rule codes."""

    def deco(obj):
        fn = obj() if isinstance(obj, type) else obj
        for c in codes:
            assert c not in _REMEDIES, f"duplicate remedy for {c}"
            _REMEDIES[c] = fn
        return obj

    return deco


def _load() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    from extmigrate.fix import remedies

    for mod in pkgutil.iter_modules(remedies.__path__):
        importlib.import_module(f"{remedies.__name__}.{mod.name}")


def get_remedy(code: str) -> Remedy | None:
    _load()
    return _REMEDIES.get(code)


def has_remedy(code: str) -> bool:
    return get_remedy(code) is not None


_env: jinja2.Environment | None = None


def env() -> jinja2.Environment:
    global _env
    if _env is None:
        _env = jinja2.Environment(
            loader=jinja2.PackageLoader("extmigrate", "templates"), undefined=jinja2.StrictUndefined,
            keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True, autoescape=False)
    return _env


def render(template: str, **values: Any) -> str:
    """Render templates/<template>.c.j2 (or .h.j2 when the name ends in .h)."""
    name = template if template.endswith(".j2") else f"{template}.c.j2"
    return env().get_template(name).render(**values)


def macro(template: str, name: str, **values: Any) -> str:
    """Call one {% macro %} of templates/<template>.c.j2."""
    mod = env().get_template(f"{template}.c.j2").make_module()
    return str(getattr(mod, name)(**values))


class FixContext:
    """Text helpers for remedies (offsets are bytes, as everywhere in the TU view)."""

    def __init__(self, tu: TUView):
        self.tu = tu

    def source(self, path: str) -> bytes:
        return self.tu.source(path)

    def text(self, path: str, start: int, end: int) -> str:
        return self.tu.text(path, start, end)

    def line_start(self, path: str, offset: int) -> int:
        return self.source(path).rfind(b"\n", 0, offset) + 1

    def line_end(self, path: str, offset: int) -> int:
        """Offset just after the newline ending the line holding `offset` (or the file end)."""
        src = self.source(path)
        i = src.find(b"\n", offset)
        return len(src) if i < 0 else i + 1

    def indent(self, path: str, offset: int) -> str:
        src = self.source(path)
        s = self.line_start(path, offset)
        e = s
        while e < len(src) and src[e:e + 1] in (b" ", b"\t"):
            e += 1
        return src[s:e].decode("ascii")

    def only_space_before(self, path: str, offset: int) -> bool:
        """True when nothing but blanks precede `offset` on its line."""
        return not self.source(path)[self.line_start(path, offset):offset].strip()

    render = staticmethod(render)
    macro = staticmethod(macro)


def file_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def propose_fixes(tu: TUView, findings: list[Finding]) -> None:
    """Fill finding.fix (or data['fix_reason']) for findings whose rule has a remedy.

    Called by engine.analyse after each rule's check; a remedy bug never stops the scan."""
    ctx: FixContext | None = None
    python: bool | None = None
    for f in findings:
        fn = get_remedy(f.code)
        if fn is None:
            continue
        if python is None:
            python = _extension_code(tu)
        ctx = ctx or FixContext(tu)
        try:
            res = _not_owned(f) or (NoFix(NOT_PYTHON) if not python and f.category != "module-gil"
                                    else fn(tu, f, ctx))
            if isinstance(res, FixProposal):
                res = next((_not_owned(f, e.path) for e in res.edits if _not_owned(f, e.path)), res)
        except Exception as e:  # report, never crash the scan
            f.data["fix_reason"] = f"the remedy failed ({type(e).__name__}: {e})"
            continue
        if isinstance(res, NoFix):
            f.data["fix_reason"] = res.reason
        elif res is None or not res.edits:
            f.data["fix_reason"] = "this shape has no mechanical remedy"
        else:
            hashes = {p: file_hash(tu.source(p)) for p in sorted({e.path for e in res.edits})}
            f.fix = res.to_dict(hashes)


NOT_PYTHON = "its translation unit does not include Python.h: not extension code, left alone"


def _extension_code(tu: TUView) -> bool:
    """The TU includes Python.h; or an include was not found (pybind11 not installed here) and its
    main file names Python's API (a C library missing its generated config.h does not)."""
    from extmigrate.analysis.callgraph import uses_python
    from extmigrate.fix.owned import names_python

    if uses_python(tu):
        return True
    return any("file not found" in d.spelling for d in tu.tu.diagnostics) and names_python(tu.source(tu.main_path))


def _not_owned(f: Finding, path: str | None = None) -> NoFix | None:
    """NoFix when the file lies in vendored third-party code (f.data['vendored'] names the folder)."""
    from extmigrate.fix.owned import vendored

    hit = vendored(path or f.path)
    if hit is None:
        return None
    f.data["vendored"] = hit[0]
    return NoFix(f"vendored third-party code ({hit[1]}): left alone")


def reason_without_fix(f: Finding) -> str:
    """Why a finding has no fix (for the `fix` report)."""
    if f.fix is not None:
        return ""
    if "fix_reason" in f.data:
        return f.data["fix_reason"]
    if not has_remedy(f.code):
        return "no mechanical remedy for this rule: change the code by hand (see `extmigrate explain " \
               f"{f.code}`)"
    return "no remedy was proposed"
