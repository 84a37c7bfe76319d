"""Turn findings' fixes into per-file patches: merge, refuse conflicts and stale files, diff."""

from __future__ import annotations

import dataclasses
import difflib
import os
import re
from dataclasses import dataclass, field

from extmigrate import benign as leftovers
from extmigrate import fileio
from extmigrate.fix import compat, includes
from extmigrate.fix.base import Edit, file_hash, reason_without_fix
from extmigrate.model import Finding


@dataclass
class FilePatch:
    path: str
    old: bytes
    new: bytes

    @property
    def is_new(self) -> bool:
        return not self.old and not os.path.exists(self.path)


@dataclass
class PlanOptions:
    unsafe: bool = False  # --unsafe-fixes
    declare: bool = False  # --declare: declare GIL-free even with unresolved findings
    min_python: tuple[int, int] | None = None
    min_python_source: str = ""
    for_write: bool = False  # --apply: also refuse read-only files
    inside: list[str] | None = None  # the project: no file outside it is changed


@dataclass
class Plan:
    patches: list[FilePatch] = field(default_factory=list)
    fixed: list[Finding] = field(default_factory=list)
    along: list[Finding] = field(default_factory=list)  # no fix of their own; another fix covers them
    skipped: list[tuple[Finding, str]] = field(default_factory=list)
    problems: list[tuple[str, str]] = field(default_factory=list)  # (path, message)
    compat_apis: list[str] = field(default_factory=list)
    compat_header: str | None = None
    notes: list[tuple[Finding, str]] = field(default_factory=list)  # said about a fix that was made


def _read(path: str, cache: dict) -> bytes | str:
    """File bytes, or a reason the file is left alone."""
    if path not in cache:
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError as e:
            cache[path] = f"cannot read: {e.strerror or e}"
            return cache[path]
        if b"\0" in data:
            cache[path] = "binary file; left alone"
        else:
            try:
                data.decode("utf-8")
                cache[path] = data
            except UnicodeDecodeError:
                cache[path] = "not UTF-8; left alone"
    return cache[path]


def writable(path: str, opts: PlanOptions) -> str | None:
    """None, or why the file will not be changed (outside the project; with --apply: read-only)."""
    if opts.for_write:
        return fileio.refusal(path, opts.inside)
    return fileio.outside(path, opts.inside) if opts.inside is not None else None


def _overlaps(a: Edit, b: Edit) -> bool:
    if a.start == a.end or b.start == b.end:  # an insertion conflicts only strictly inside a range
        p, r = (a, b) if a.start == a.end else (b, a)
        return r.start < p.start < r.end
    return a.start < b.end and b.start < a.end


def newline_of(data: bytes) -> str:
    crlf = data.count(b"\r\n")
    return "\r\n" if crlf and crlf >= data.count(b"\n") - crlf else "\n"


def apply_edits(data: bytes, edits: list[Edit]) -> bytes:
    """Edits (non-overlapping, texts with "\n") applied in order, in the file's newline style."""
    nl = newline_of(data)
    out, pos = [], 0
    for e in sorted(edits, key=lambda e: (e.start, e.end)):  # stable: insertions keep their order
        text = re.sub(r"(?<!\r)\n", "\r\n", e.text) if nl == "\r\n" else e.text
        out.append(data[pos:e.start])
        out.append(text.encode("utf-8"))
        pos = max(pos, e.end)
    out.append(data[pos:])
    return b"".join(out)


class _Merger:
    """Accept fixes one at a time; a fix is all-or-nothing across its edits.  Edits that wrap the
    same exit statement with their own releases (Edit.run) merge into one wrapper running all of
    them; `parts` remembers what a merged edit is made of, so a dropped fix can be taken out."""

    def __init__(self, source=lambda path: b""):
        self.edits: dict[str, list[Edit]] = {}
        self.owner: dict[Edit, Finding] = {}
        self.parts: dict[Edit, list[Edit]] = {}
        self.source = source  # path -> the file's bytes as parsed

    def conflict(self, edits: list[Edit]) -> str | None:
        for e in edits:
            for old in self.edits.get(e.path, []):
                if old != e and _overlaps(old, e) and self._merged(old, e) is None:
                    f = self.owner[old]
                    return f"conflicts with the fix for {f.code} at line {f.line}: {self._where(old, e)}"
        return None

    def add(self, f: Finding, edits: list[Edit]) -> None:
        for e in edits:
            have = self.edits.setdefault(e.path, [])
            if e in have or any(e in parts for parts in self.parts.values()):
                continue  # identical edits from two fixes merge
            self.owner[e] = f
            old = next((o for o in have if _overlaps(o, e)), None)
            if old is None:
                have.append(e)
                continue
            merged = self._merged(old, e)
            have[have.index(old)] = merged
            self.parts[merged] = self.parts.pop(old, [old]) + [e]
            self.owner[merged] = self.owner[old]

    def remove(self, e: Edit) -> None:
        """Take one fix's edit out, also out of a merged wrapper."""
        have = self.edits.get(e.path, [])
        if e in have:
            have.remove(e)
            return
        for merged, parts in list(self.parts.items()):
            if e in parts and merged in have:
                rest = [p for p in parts if p != e]
                again = rest[0]
                for p in rest[1:]:
                    again = self._merged(again, p)
                have[have.index(merged)] = again
                self.owner[again] = self.owner[rest[0]]
                del self.parts[merged]
                if len(rest) > 1:
                    self.parts[again] = rest
                return

    def _merged(self, a: Edit, b: Edit) -> Edit | None:
        """One edit doing both, when a and b wrap the same exit statement with releases before it:
        the same wrapper (a plain `{ RUN stmt }` or `{ T extmigrate_ret = expr; RUN return
        extmigrate_ret; }`), or a plain one and one that also rewrites the returned value (it is
        computed before every release).  None for a true overlap."""
        if not (a.run and b.run and (a.path, a.start, a.end) == (b.path, b.start, b.end)):
            return None
        both = f"{a.run} {b.run}"
        sa, sb = _shape(a), _shape(b)
        if sa == sb:
            return Edit(a.path, a.start, a.end, sa.replace("\0", both), both)
        stmt = self.source(a.path)[a.start:a.end]
        stmt = stmt.decode("utf-8", "replace") if isinstance(stmt, bytes) else ""
        for plain, other in ((sa, sb), (sb, sa)):
            if _plain_value(plain, stmt) and other.endswith(_VALUE_TAIL):
                return Edit(a.path, a.start, a.end, other.replace("\0", both), both)
        return None

    def _where(self, a: Edit, b: Edit) -> str:
        data = self.source(a.path)
        data = data if isinstance(data, bytes) else b""
        first = data.count(b"\n", 0, max(a.start, b.start)) + 1
        last = data.count(b"\n", 0, max(min(a.end, b.end) - 1, max(a.start, b.start))) + 1
        where = f"line {first}" if first == last else f"lines {first}-{last}"
        return f"both rewrite {where} (left for the next run)"


_VALUE_TAIL = "\0 return extmigrate_ret; }"


def _shape(e: Edit) -> str:
    """The edit's text with its release run (the last occurrence) replaced by a NUL."""
    head, _, tail = e.text.rpartition(e.run)
    return f"{head}\0{tail}"


def _plain_value(shape: str, stmt: str) -> bool:
    """Is shape the plain wrapper of the return statement stmt: its value, the releases, return?"""
    m = re.fullmatch(r"return\s*(.*?)\s*;", stmt, re.S)
    return m is not None and re.fullmatch(
        rf"\{{ [^;=]*\bextmigrate_ret = {re.escape(m.group(1))}; " + re.escape(_VALUE_TAIL),
        shape, re.S) is not None


class _Names:
    """One name per file: a second hard link or a symlink to a file already seen maps to its first
    name, so both findings' edits merge into one patch (which the writer applies to the shared file)."""

    def __init__(self):
        self.first: dict[tuple[int, int], str] = {}
        self.memo: dict[str, str] = {}

    def __call__(self, path: str) -> str:
        if path not in self.memo:
            try:
                st = os.stat(path)
                self.memo[path] = self.first.setdefault((st.st_dev, st.st_ino), path)
            except OSError:
                self.memo[path] = path
        return self.memo[path]

    def finding(self, f: Finding) -> Finding:
        if not f.fix or all(self(e["path"]) == e["path"] for e in f.fix["edits"]):
            return f
        edits = [dict(e, path=self(e["path"])) for e in f.fix["edits"]]
        hashes = {self(p): h for p, h in f.fix.get("hashes", {}).items()}
        return dataclasses.replace(f, fix=dict(f.fix, edits=edits, hashes=hashes))


def _covered_along(out: Plan, merger: _Merger, names: _Names) -> None:
    """A finding without its own fix whose site an accepted edit rewrites is fixed along with it."""
    for item in list(out.skipped):
        f = item[0]
        start, end = f.data.get("start"), f.data.get("end")
        if f.fix is not None or start is None:
            continue
        if any(start <= e.start and e.end <= max(end, start + 1) for e in merger.edits.get(names(f.path), [])):
            out.skipped.remove(item)
            out.along.append(f)


def _short(f: Finding) -> str:
    return f"{f.code} {os.path.basename(f.path)}:{f.line} '{f.symbol}'"


def _module_dir(f: Finding) -> str:
    return os.path.dirname(os.path.abspath(f.path)) + os.sep


_HEADER_EXT = (".h", ".hh", ".hpp", ".hxx", ".inc", ".inl")


def _in_module(b: Finding, decl: Finding) -> bool:
    """Is the leftover `b` in the code of the module `decl` declares: its folder, or a header of the
    project anywhere (a module's TU includes headers from other folders: src/lib/buffer/x.h)?"""
    path = os.path.abspath(b.path)
    return path.startswith(_module_dir(decl)) or path.lower().endswith(_HEADER_EXT)


def plan(findings: list[Finding], opts: PlanOptions, unanalysed: list[Finding] = ()) -> Plan:
    """The patches for `findings`. `unanalysed` (low-confidence findings, from function bodies with
    parse errors) are never fixed, but block a module's GIL declaration like any race left."""
    out = Plan()
    cache: dict[str, bytes | str] = {}
    merger = _Merger(lambda path: _read(path, cache))
    declarations: list[Finding] = []
    bad_files: dict[str, str] = {}
    names = _Names()

    def file_problem(path: str, hashes: dict[str, str]) -> str | None:
        if path in bad_files:
            return bad_files[path]
        data = _read(path, cache)
        why = data if isinstance(data, str) else None
        if why is None and hashes.get(path) and file_hash(data) != hashes[path]:
            why = "changed since it was scanned; scan again"
        if why is None:
            why = writable(path, opts)
        if why:
            bad_files[path] = why
            out.problems.append((path, why))
        return why

    for f in map(names.finding, findings):
        fix = f.fix
        if fix is None:
            out.skipped.append((f, reason_without_fix(f)))
            continue
        if fix["applicability"] != "safe" and not opts.unsafe:
            out.skipped.append((f, f"unsafe fix ({fix['description']}): review it with --unsafe-fixes"))
            continue
        if fix.get("declaration"):
            declarations.append(f)
            continue
        _accept(f, merger, out, file_problem)

    _covered_along(out, merger, names)
    # before the declarations: a fix dropped for want of the compat include is a leftover too
    _add_compat(out, merger, opts, cache, file_problem)
    for f in declarations:
        left = [b for b, _ in out.skipped if b.category != "module-gil" and _in_module(b, f)]
        unparsed = [b for b in unanalysed if b.category != "module-gil" and _in_module(b, f)]
        why = {id(b): leftovers.benign(b, _module_dir(f)) for b in left}
        blockers = [b for b in left if not why[id(b)]]
        benign = [f"{_short(b)} ({why[id(b)]})" for b in left if why[id(b)]]
        if (blockers or unparsed) and not opts.declare:
            out.skipped.append((f, _blocked(blockers, unparsed, benign)))
            continue
        _accept(f, merger, out, file_problem)
        if benign and f in out.fixed:
            out.notes.append((f, f"declared GIL-free with {len(benign)} benign finding(s) left: "
                                 f"{', '.join(benign)}"))

    header_first = sorted(merger.edits, key=lambda p: (p != out.compat_header, p))
    for path in header_first:  # the header is written before the files that include it
        data = _read(path, cache)
        old = data if isinstance(data, bytes) else b""
        new = apply_edits(old, merger.edits[path])
        if new != old:
            out.patches.append(FilePatch(path, old, new))
    return out


def _blocked(blockers: list[Finding], unparsed: list[Finding], benign: list[str]) -> str:
    """Why a module is not declared GIL-free: the races left, and the findings in code that did not parse."""
    parts = []
    if blockers:
        listed = ", ".join(f"{_short(b)} ({b.name})" for b in blockers[:8])
        more = f" and {len(blockers) - 8} more" if len(blockers) > 8 else ""
        parts.append(f"{len(blockers)} finding(s) left are races that block it ({listed}{more})")
    if unparsed:
        listed = ", ".join(_short(b) for b in unparsed[:8])
        more = f" and {len(unparsed) - 8} more" if len(unparsed) > 8 else ""
        parts.append(f"{len(unparsed)} low-confidence finding(s) in function bodies with parse errors may "
                     f"be races ({listed}{more}): add the missing headers or flags the scan names and run again")
    ok = f"; not blocking, benign: {', '.join(benign)}" if benign else ""
    return f"not declared GIL-free: {'; '.join(parts)}{ok}; fix them or force with --declare"


def _accept(f: Finding, merger: _Merger, out: Plan, file_problem) -> None:
    edits = [Edit.from_dict(e) for e in f.fix["edits"]]
    for path in sorted({e.path for e in edits}):
        why = file_problem(path, f.fix.get("hashes", {}))
        if why:
            out.skipped.append((f, f"{os.path.basename(path)}: {why}"))
            return
    why = merger.conflict(edits)
    if why:
        out.skipped.append((f, why))
        return
    merger.add(f, edits)
    out.fixed.append(f)


def _add_compat(out: Plan, merger: _Merger, opts: PlanOptions, cache: dict, file_problem) -> None:
    """One header with fallbacks for the newer APIs used; its #include in every file using them."""
    users: dict[str, set[str]] = {}
    uses: dict[str, list[int]] = {}
    for f in out.fixed:
        need = compat.needed(set(f.fix.get("apis", [])), opts.min_python)
        for e in f.fix["edits"] if need else []:
            users.setdefault(e["path"], set()).update(need)
            uses.setdefault(e["path"], []).append(e["start"])
    if not users:
        return
    folder = os.path.commonpath([os.path.dirname(os.path.abspath(p)) for p in users])
    header = os.path.join(folder, compat.HEADER_NAME)
    include_edits = _include_edits(out, merger, users, uses, cache, header)
    if not users:
        return
    apis = set().union(*users.values())
    existing = _read(header, cache) if os.path.exists(header) else b""
    if isinstance(existing, str) or (existing and compat.existing_apis(existing) is None):
        why = existing if isinstance(existing, str) else "exists and was not written by extmigrate"
        out.problems.append((header, why))
        _drop_users(out, merger, users, f"needs {compat.HEADER_NAME}, which {why}")
        return
    if existing:
        apis |= compat.existing_apis(existing) or set()
    why = writable(header, opts)
    if why:
        out.problems.append((header, why))
        _drop_users(out, merger, users, f"{compat.HEADER_NAME} cannot be written")
        return
    if not existing:
        cache[header] = b""
    elif file_problem(header, {}):
        _drop_users(out, merger, users, f"{compat.HEADER_NAME} cannot be updated")
        return
    out.compat_apis = sorted(apis)
    out.compat_header = header
    text = compat.header_text(out.compat_apis)
    if text.encode() != existing:
        merger.edits[header] = [Edit(header, 0, len(existing), text)]
    for path, edit in include_edits.items():
        merger.edits.setdefault(path, []).append(edit)


def _include_edits(out: Plan, merger: _Merger, users: dict, uses: dict, cache: dict,
                   header: str) -> dict[str, Edit]:
    """Each using file's include edit; a file without a place for it loses the fixes that need it
    (and leaves `users`)."""
    found: dict[str, Edit] = {}
    every = {os.path.abspath(p) for p in users}
    for path in sorted(users):
        data = cache[path]
        before = includes.first_use(path, data, uses[path], every - {os.path.abspath(path)})
        edit = compat.include_edit(path, data, header, before)
        if isinstance(edit, str) or (edit is not None and merger.conflict([edit])):
            why = edit if isinstance(edit, str) else merger.conflict([edit])
            _drop_users(out, merger, {path: users[path]}, f"{compat.HEADER_NAME} cannot be included "
                                                          f"in {os.path.basename(path)}: {why}")
            del users[path]
        elif edit is not None:
            found[path] = edit
    return found


def _drop_users(out: Plan, merger: _Merger, users: dict, why: str) -> None:
    for f in list(out.fixed):
        if any(e["path"] in users for e in f.fix["edits"]) and compat.needed(
                set(f.fix.get("apis", [])), None):
            out.fixed.remove(f)
            out.skipped.append((f, why))
            for e in f.fix["edits"]:
                merger.remove(Edit.from_dict(e))


def _lines(data: bytes) -> list[str]:
    """Lines split at "\n" only (str.splitlines would also split at form feeds and the like)."""
    parts = data.decode("utf-8").split("\n")
    return [x + "\n" for x in parts[:-1]] + ([parts[-1]] if parts[-1] else [])


def unified_diff(p: FilePatch, root: str) -> str:
    """A diff `git apply` and `patch -p1` accept: a/ b/ paths relative to root."""
    rel = os.path.relpath(p.path, root).replace(os.sep, "/")
    old_lines, new_lines = _lines(p.old), _lines(p.new)
    old_name = "/dev/null" if p.is_new else f"a/{rel}"
    head = f"diff --git a/{rel} b/{rel}\n" + ("new file mode 100644\n" if p.is_new else "")
    out = [head]
    for line in difflib.unified_diff(old_lines, new_lines, old_name, f"b/{rel}", n=3):
        if line.startswith(("---", "+++")):
            line = line.rstrip("\n") + "\n"
        out.append(line)
        if not line.endswith("\n"):
            out.append("\n\\ No newline at end of file\n")
    return "".join(out)
