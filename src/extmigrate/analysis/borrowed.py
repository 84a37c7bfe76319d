"""Shared analysis of the borrowed-reference rules (FT1xx); defines no rule.

A borrowed reference from a container is only a race when another thread can reach the container.
Per use, the container expression is classified from the enclosing function's comment-free text
(header-independent, macros and calls alike):
- guarded: inside a critical section on the container (or on the object owning the field) or a lock;
- tuple: immutable (the METH_VARARGS args tuple, a PyTuple_New/PySequence_Tuple result, a value
  proven a tuple by PyTuple_Check);
- kwargs: the keyword-arguments dict a call receives (a fresh dict per call);
- private: a list/dict/cell this function created (data/apis.toml [fresh]) and has not published
  before the use (stored in a field/global/other container, passed to a call that may keep it);
  also a parameter of a static helper every caller passes such a value, and the result of a helper
  of the TU that only returns such values;
- anything else (fields, globals, parameters, call results) may be shared: a finding.
A finding in the TU's own file that only facts of other files could clear (what a function defined
elsewhere returns, what every call of a non-static function passes, a global only module
initialisation fills) carries those facts as `data["assumes"]`; analysis/borrowed_project.py checks
them across all TUs.
Uses whose result is discarded or only compared (never dereferenced), uses in preprocessor branches
that a free-threaded build never compiles, uses in tp_traverse functions (run with the world
stopped) and in static helpers only module initialisation calls are not findings either.
How a result or a local is used (compared, returned, increfed, stored, aliased, passed on) is read
from the AST (analysis/borrowed_flow.py); the text decides where the AST cannot (macro arguments,
bodies with parse errors).
Text is decoded as latin-1 so that string offsets are byte offsets.
"""

from __future__ import annotations

import os
import re
from collections import defaultdict
from contextlib import contextmanager
from functools import cached_property

from clang.cindex import BinaryOperator, LinkageKind, StorageClass, TypeKind

from extmigrate import cursors, kb
from extmigrate.analysis import callgraph, typeslots
from extmigrate.analysis.borrowed_flow import Flow, is_incref
from extmigrate.analysis.guards import guard_at
from extmigrate.analysis.ppbranch import file_dead_ranges, in_dead_branch
from extmigrate.analysis.text import blanked, by_content, unclosed
from extmigrate.model import Finding, Site
from extmigrate.tree import CASTS, K, Node, TUView, Use, split_args

KB = kb.load()
_CAST = re.compile(r"^\(\s*(?:const\s+|struct\s+)*[A-Za-z_]\w*\s*\**\s*(?:const\s*)?\)\s*(?=[\w(&*])")
_IDENT = re.compile(r"[A-Za-z_]\w*")
_KW_PARAM = re.compile(r"^(kw\w*|keywds|keywords?)$", re.I)
_NOT_CALLS = {"if", "while", "for", "switch", "return", "sizeof", "do", "else", "case", "defined"}
_NULLISH = {"NULL", "0", "nullptr", "Py_None"}
_ASSIGN = re.compile(r"(?<![=!<>+\-*/%&|^])=(?!=)")
_INCREF = re.compile(r"\b(?:Py_X?INCREF|Py_X?NewRef)\s*\(\s*$")
_EXITS = re.compile(r"\b(return|goto|break|continue|Py_RETURN_\w+)\b")
_COND_HEAD = re.compile(r"\b(?:if|else|while|for|do|case|default)\b|\?")  # a braceless branch
UNTRACKED = ("weakref", "modules")  # weak references, sys.modules: shared whatever the provenance
_COMPARED = re.compile(r"^\s*\)*\s*[=!]=(?!=)")  # compared, never dereferenced
_GETTER = re.compile(r"([A-Za-z_]\w*)\s*\.\s*(?:%s)\s*\(\s*\)" % "|".join(KB.wrapper_getters))
_STACK_FIELD = re.compile(r"([A-Za-z_]\w*)\.([A-Za-z_]\w*)")
_PARAM_FIELD = re.compile(r"([A-Za-z_]\w*)->([A-Za-z_]\w*)")
_TESTED_AFTER = re.compile(r"\s*(?:\)|&&|\|\||\?)")  # `if (v)`, `!v &&`, `v ? a : b`: a truth test
_TESTED_BEFORE = re.compile(r"(?:\b(?:if|while)\s*\(|!|&&|\|\|)\s*$")


def norm(expr: str) -> str:
    """'(PyObject *) ( self->items )' -> 'self->items'."""
    e = expr.strip()
    while True:
        prev = e
        e = _CAST.sub("", e)
        m = re.fullmatch(r"_?Py(?:Object)?_CAST\((.*)\)", e, re.S)
        if m:
            e = m.group(1).strip()
        if e.startswith("(") and e.endswith(")") and _balanced(e[1:-1]):
            e = e[1:-1].strip()
        m = _GETTER.fullmatch(e)  # C++ `ref.get()` of an owning wrapper: the pointer it holds
        if m:
            e = m.group(1)
        if e == prev:
            return re.sub(r"(?<![\w)\]])\((\w+)\)(?=->|\.|\[)", r"\1", re.sub(r"\s+", "", e))


def _balanced(s: str) -> bool:
    depth = 0
    for ch in s:
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if depth < 0:
            return False
    return depth == 0


def _tu_index(tu: TUView) -> dict:
    """Per-TU facts the rules share: nodes by function, method-table flags, dead branches."""
    idx = tu.__dict__.get("_borrowed_index")
    if idx is None:
        by_func: dict[int, dict[str, list[Node]]] = defaultdict(lambda: defaultdict(list))
        for kind, key in ((K.VAR_DECL, "vars"), (K.FOR_STMT, "loops"), (K.WHILE_STMT, "loops"),
                          (K.DO_STMT, "loops"), (K.IF_STMT, "ifs")):
            for n in tu.of_kind(kind):
                if n.func is not None:
                    by_func[id(n.func)][key].append(n)
        idx = tu.__dict__["_borrowed_index"] = {"by_func": by_func, "flags": None, "funcs": {}}
    return idx


def file_text(tu: TUView, path: str) -> str:
    return blanked(tu, path)


def _dead(tu: TUView, path: str) -> list[tuple[int, int]]:
    return file_dead_ranges(tu, path)


def in_dead_code(tu: TUView, path: str, off: int) -> bool:
    """Is `off` in a preprocessor branch no build compiles (`#if 0`, GIL-only code)?"""
    return in_dead_branch(_dead(tu, path), off)


def method_flags(tu: TUView) -> dict[str, str]:
    """Function name -> METH_* flags text, from the PyMethodDef tables of the TU's project files."""
    idx = _tu_index(tu)
    if idx["flags"] is None:
        out: dict[str, str] = {}
        for path in tu.files:
            data = tu.source(path)
            if b"METH_" in data:
                out.update(by_content("meth_flags", data, lambda: _file_flags(file_text(tu, path))))
        idx["flags"] = out
    return idx["flags"]


def _file_flags(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    seen: set[int] = set()
    for m in re.finditer(r"\bMETH_[A-Z]+", text):
        open_at = unclosed(text, m.start(), "{", "}")
        if open_at is None or open_at in seen:
            continue
        seen.add(open_at)
        fields = split_args("(" + text[open_at + 1:m.end() + 200].split("}")[0] + ")")
        for i, f in enumerate(fields):
            if "METH_" in f and i > 0:
                names = _IDENT.findall(fields[i - 1])
                if names:
                    out[names[-1]] = f
                break
    return out


class FuncInfo:
    """One function's comment-free text, parameters, locals and loops (offsets are file offsets)."""

    def __init__(self, tu: TUView, func: Node):
        self.tu, self.func = tu, func
        self.path, self.base, end = func.extent()[:3]
        self.text = file_text(tu, self.path)[self.base:end]
        self.raw = tu.source(self.path)[self.base:end].decode("latin-1")  # with string literals
        nodes = _tu_index(tu)["by_func"][id(func)]
        self.loops = [(n.start, n.end) for n in nodes["loops"]]
        self.ifs = nodes["ifs"]
        self.dead = _dead(tu, self.path)

    # parameters and locals cost a libclang call each: made when a rule first asks
    @cached_property
    def params(self) -> list[tuple[str, str]]:
        return [(p.spelling, p.cursor.type.spelling) for p in self.tu.children_of(self.func)
                if p.kind == K.PARM_DECL]

    @cached_property
    def flow(self) -> Flow:
        """The function's AST occurrences by offset (analysis/borrowed_flow.py)."""
        return Flow(self.tu, self.func, self.path)

    @cached_property
    def locals(self) -> set[str]:
        return {v.spelling for v in _tu_index(self.tu)["by_func"][id(self.func)]["vars"]}

    @classmethod
    def of(cls, tu: TUView, func: Node) -> "FuncInfo":
        funcs = _tu_index(tu)["funcs"]
        if id(func) not in funcs:
            funcs[id(func)] = cls(tu, func)
        return funcs[id(func)]

    # -- text helpers (absolute offsets in, absolute offsets out) ------------------------------
    def at(self, off: int) -> str:
        return self.text[off - self.base:]

    def before(self, off: int) -> str:
        return self.text[:off - self.base]

    def stmt_start(self, off: int) -> int:
        text = self.before(off)
        i = max(text.rfind(";"), text.rfind("{"), text.rfind("}"))
        return self.base + i + 1

    def reaches(self, off: int, at: int) -> bool:
        """Can code at `off` run before the use at `at` (earlier, or later in a shared loop)?"""
        if off < at:
            return not self.returns_after(off, at)
        return any(s <= at < e and s <= off < e for s, e in self.loops)

    def renewed(self, name: str, off: int, at: int) -> bool:
        """Is `name` assigned anew on every pass from `off` (later in a loop) round to the use at `at`:
        an assignment in that loop's body itself, between the loop's start and the use?"""
        shared = [(s, e) for s, e in self.loops if s <= at < e and s <= off < e]
        if off <= at or not shared:
            return False
        s, _ = min(shared, key=lambda r: r[1] - r[0])
        for a, _ in self.assignments(name):
            head = self.text[s - self.base:a - self.base]
            stmt = self.text[self.stmt_start(a) - self.base:a - self.base]
            if s <= a < at and head.count("{") - head.count("}") == 1 and not _COND_HEAD.search(stmt):
                return True
        return False

    def returns_after(self, off: int, at: int) -> bool:
        """Does every path from `off` return before reaching `at` (a block ending in return)?"""
        text, o, a = self.text, off - self.base, at - self.base
        open_at = unclosed(text, o, "{", "}")
        if open_at is None:
            return False
        close = _closing(text, open_at, "{", "}")
        if open_at < a <= close:
            return False
        depth = 0
        for m in re.finditer(r"[{}]|\b(?:return|Py_RETURN_\w+)\b", text[o:close]):
            tok = m.group(0)
            if tok in "{}":
                depth += 1 if tok == "{" else -1
            elif depth == 0:
                head = text[o:o + m.start()]
                stmt = head[max(head.rfind(";"), head.rfind("{"), head.rfind("}")) + 1:]
                if not stmt.strip() or re.fullmatch(r"\s*\w+\s*:\s*", stmt):
                    return True
        return False

    def loop_at(self, off: int) -> list[int] | None:
        """[start, end] of the innermost loop statement around `off`."""
        inner = [(s, e) for s, e in self.loops if s <= off < e]
        return list(min(inner, key=lambda r: r[1] - r[0])) if inner else None

    def top_level(self, off: int) -> bool:
        """Is `off` a statement of the function body itself (not inside a nested block)?"""
        head = self.before(off)
        return head.count("{") - head.count("}") == 1

    def occurrences(self, name: str) -> list[int]:
        offs = [self.base + m.start() for m in re.finditer(rf"(?<![\w.>]){re.escape(name)}\b", self.text)]
        return [o for o in offs if not in_dead_branch(self.dead, o)]

    def assignments(self, name: str) -> list[tuple[int, str | None]]:
        """(offset, right-hand side) of every assignment; None for `&name` (set through a pointer)."""
        out: list[tuple[int, str | None]] = []
        for m in re.finditer(rf"(?<![\w.>]){re.escape(name)}\s*(?:\[[^\]]*\]\s*)?=(?!=)", self.text):
            if "[" in m.group(0):
                continue
            out.append((self.base + m.start(), self.raw[m.end():_rhs_end(self.text, m.end())].strip()))
        for m in re.finditer(rf"(?<!&)&\s*{re.escape(name)}\b(?!\s*(?:->|\.|\[))", self.text):
            out.append((self.base + m.start(), None))
        if name in self.locals:  # C++ direct initialisation `Ref name(rhs);` / `Ref name{rhs};`
            for m in re.finditer(rf"\b(?!return\b|else\b|case\b)[A-Za-z_][\w:<>]*[\s*&]+{re.escape(name)}\s*([({{])",
                                 self.text):
                close = _closing(self.text, m.end() - 1, m.group(1), ")" if m.group(1) == "(" else "}")
                rhs = self.raw[m.end():close].strip()
                if rhs and _rhs_end(rhs, 0) == len(rhs):  # one argument
                    out.append((self.base + m.start(), rhs))
        return [(o, r) for o, r in out if not in_dead_branch(self.dead, o)]


def _rhs_end(text: str, pos: int) -> int:
    depth, i = 0, pos
    while i < len(text):
        ch = text[i]
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
            if depth < 0:
                break
        elif ch in ";," and depth == 0:
            break
        i += 1
    return i


# -- what a container expression is -------------------------------------------------------------
def _call_name(expr: str) -> tuple[str, list[str]] | None:
    m = re.match(r"([A-Za-z_]\w*)\s*\(", expr)
    if not m or not expr.endswith(")") or not _balanced(expr[m.end() - 1:]):
        return None
    return m.group(1), split_args(expr)


def _build_value_kind(args: list[str]) -> str | None:
    if not args:
        return None
    fmt = re.fullmatch(r'"((?:[^"\\]|\\.)*)"', args[0].strip())
    if not fmt:
        return None
    f = fmt.group(1).strip()
    if f.startswith("[") and f.endswith("]"):
        return "list"
    if f.startswith("{") and f.endswith("}"):
        return "dict"
    return "tuple" if f.startswith("(") or len(re.findall(r"[A-Za-z&]", f)) != 1 else None


def param_kind(fi: FuncInfo, name: str) -> str | None:
    """'tuple' (positional args tuple, kwnames), 'kwargs' (keyword dict) or None, for a parameter."""
    names = [p for p, _ in fi.params]
    if name not in names:
        return None
    i, ptype = names.index(name), dict(fi.params)[name].replace(" ", "")
    if ptype not in ("PyObject*", "PyObject*const"):
        return None
    flags = method_flags(fi.tu).get(fi.func.spelling, "")
    if "METH_FASTCALL" in flags:
        return "tuple" if i == 3 and "METH_KEYWORDS" in flags else None
    if "METH_VARARGS" in flags:
        return "tuple" if i == 1 else ("kwargs" if i == 2 and "METH_KEYWORDS" in flags else None)
    if "METH_O" in flags or "METH_NOARGS" in flags:
        return None
    if name == "kwnames":
        return "tuple"
    if _KW_PARAM.match(name):
        return "kwargs"
    if i == 1 and (name == "args" or (len(names) == 3 and _KW_PARAM.match(names[2]))):
        return "tuple"
    return None


def _proven_tuple(fi: FuncInfo, name: str, at: int) -> bool:
    """An `if (PyTuple_Check(name))` around the use, or an `if (!PyTuple_Check(name)) return` before."""
    check = re.compile(rf"(!\s*)?\bPyTuple_Check(?:Exact)?\s*\(\s*{re.escape(name)}\s*\)")
    for node in fi.ifs:
        kids = fi.tu.children_of(node)
        if len(kids) < 2:
            continue
        cond = file_text(fi.tu, fi.path)[kids[0].start:kids[0].end]
        m = check.search(cond)
        if not m:
            continue
        then = kids[1]
        if m.group(1):
            body = file_text(fi.tu, fi.path)[then.start:then.end]
            if node.end <= at and _EXITS.search(body):
                return True
        elif "||" not in cond and then.start <= at < then.end:
            return True
    return False


# -- facts of other files, assumed and written down (checked project-wide) ----------------------
_ASSUMED: list[set[str]] = []  # innermost last; empty: unknown code is shared


@contextmanager
def assuming():
    """Within: what other files decide is assumed safe and noted, e.g. 'ret:f' (f, defined elsewhere,
    returns something private), 'arg:f:2' (every caller of non-static f passes a private 3rd
    argument), 'global:KEY' (a global container only module initialisation fills)."""
    deps: set[str] = set()
    _ASSUMED.append(deps)
    try:
        yield deps
    finally:
        _ASSUMED.pop()


def _assume(dep: str) -> bool:
    if not _ASSUMED:
        return False
    _ASSUMED[-1].add(dep)
    return True


def var_key(cur) -> str:
    """'path:name' for a static (file-scope) variable, 'name' for one with external linkage."""
    d = cur.get_definition() or cur
    if cur.linkage == LinkageKind.INTERNAL and d.location.file:
        return f"{d.location.file.name}:{cur.spelling}"
    return cur.spelling


def global_key(tu: TUView, name: str) -> str | None:
    """The key of a file-scope variable of the TU named `name`."""
    keys = _tu_index(tu).get("globals")
    if keys is None:
        keys = _tu_index(tu)["globals"] = {}
        for v in tu.of_kind(K.VAR_DECL):
            if v.func is None and v.parent is None:
                keys.setdefault(v.spelling, var_key(v.cursor))
    return keys.get(name)


def provenance(fi: FuncInfo, expr: str, at: int, depth: int = 0) -> tuple[str | None, int | None]:
    """('tuple'|'kwargs'|'private'|None, offset of a publication that spoiled 'private')."""
    if depth > 4:
        return None, None
    e = norm(expr)
    call = _call_name(e)
    if call:
        kind = _call_kind(fi, call, at, depth)  # a new container, seen by nobody yet
        return (None if kind is None else ("tuple" if kind == "tuple" else "private")), None
    field = _STACK_FIELD.fullmatch(e)  # `st.map`: a field of a struct on this function's stack
    field = field if field and field.group(1) in fi.locals else None
    arrow = _PARAM_FIELD.fullmatch(e)  # `buf->list`, `buf` a pointer to a struct only stack frames hold
    if arrow and arrow.group(1) in {p for p, _ in fi.params} and _stack_only(fi, arrow.group(1), arrow.group(2)):
        return "private", None
    if arrow and _built_once(fi, arrow.group(1), arrow.group(2)):
        return "tuple", None  # filled while the object was made, only read since: as immutable as a tuple
    if not _IDENT.fullmatch(e) and field is None:
        return None, None
    is_param = e in {p for p, _ in fi.params}
    if not is_param and e not in fi.locals and field is None:
        key = _ASSUMED and global_key(fi.tu, e)
        if key and _assume(f"global:{key}"):
            return "tuple", None  # frozen after initialisation: as immutable as a tuple
        return None, None  # a global or a macro
    if _proven_tuple(fi, e, at):
        return "tuple", None
    kinds: list[str | None] = [param_kind(fi, e) or _from_callers(fi, e, depth)] if is_param else []
    fresh_from = None
    for off, rhs in sorted(fi.assignments(e), key=lambda a: a[0]):
        if not fi.reaches(off, at):
            continue
        if off < at and fi.top_level(off):  # runs on every path to the use: earlier values are gone
            kinds, fresh_from = [], None
        if rhs is None:
            kinds.append(None)
            continue
        if norm(rhs) in _NULLISH:
            continue
        kind = _rhs_kind(fi, rhs, off, depth)
        kinds.append(kind)
        if kind not in (None, "tuple", "kwargs"):
            fresh_from = off if fresh_from is None else min(fresh_from, off)
    if not kinds or None in kinds:
        return None, None
    if all(k == "tuple" for k in kinds):
        return "tuple", None
    if all(k == "kwargs" for k in kinds):
        return "kwargs", None
    if "kwargs" in kinds:
        return None, None
    if fresh_from is None:  # private since the call: a parameter every caller passes privately
        if not is_param or kinds[0] != "private":
            return None, None
        fresh_from = fi.base
    spoiled = published(fi, e, fresh_from, at)
    if spoiled is None and field is not None:
        spoiled = _struct_handed_on(fi, field.group(1), field.group(2), fresh_from, at)
    return (None, spoiled) if spoiled is not None else ("private", None)


def _struct_handed_on(fi: FuncInfo, var: str, member: str, start: int, at: int) -> int | None:
    """Offset where `&var` goes to a call between `start` and `at` while some other function of the
    TU could publish `member` of that struct type (anything but read it, fill it or release it)."""
    for m in re.finditer(rf"&\s*{re.escape(var)}\b(?!\s*(?:\.|->|\[))", fi.text):
        off = fi.base + m.start()
        if off < start or not fi.reaches(off, at):
            continue
        if not _opaque_or_local_callee(fi, off) or not _member_kept(fi, var, member):
            return off
    return None


def _opaque_or_local_callee(fi: FuncInfo, off: int) -> bool:
    """Is the call that gets `&var` at `off` defined in this TU (its member uses are seen), or does
    it take the pointer as `void *` (it cannot know the struct's fields, only hand the pointer on)?"""
    call = next((u for uses in fi.tu.uses.values() for u in uses
                 if u.node is not None and u.func is fi.func and u.start <= off < u.end), None)
    ref = callgraph.referenced(fi.tu, call.node) if call is not None else None
    if ref is None or ref.kind != K.FUNCTION_DECL:
        return False
    if _defined(fi.tu, ref.spelling) is not None:
        return True
    head = fi.text[call.start - fi.base:off - fi.base]
    _, index, _ = _enclosing_call(head + "&") or (None, -1, None)
    params = list(ref.type.argument_types()) if ref.type.kind == TypeKind.FUNCTIONPROTO else []
    if not 0 <= index < len(params):
        return False
    p = params[index].get_canonical()
    return p.kind == TypeKind.POINTER and p.get_pointee().get_canonical().kind == TypeKind.VOID


def _stack_only(fi: FuncInfo, param: str, member: str) -> bool:
    """Is `param` a pointer to a struct whose instances live only on stack frames of this TU, with
    `member` only ever set to a new list/dict or NULL, read, filled or released? The idiom of CPython's
    `_blocks_output_buffer.h`: `Buffer b = {.list = NULL}; Buffer_Init(&b)` sets `b->list =
    PyList_New(1)`, helpers taking `Buffer *` fill and read it. Such an instance can be reached only
    from the frame that declared it and the same-file functions it hands `&b` to."""
    from extmigrate.analysis import borrowed_project as P  # it imports this module
    decl = next((p for p in fi.tu.children_of(fi.func) if p.kind == K.PARM_DECL and p.spelling == param), None)
    ptr = decl.cursor.type.get_canonical() if decl is not None else None
    if ptr is None or ptr.kind != TypeKind.POINTER:
        return False
    rec = ptr.get_pointee().get_canonical().get_declaration()
    if rec is None or rec.kind != K.STRUCT_DECL:
        return False
    key = cursors.decl_id(rec)
    cache = _tu_index(fi.tu).setdefault("stack_only", {})
    if (key, member) not in cache:
        cache[(key, member)] = _instances_on_stack(fi.tu, key) and all(
            node.func is not None and (P._how(fi.tu, node, set())[0] in ("read", "keep", "set")
                                       or _macro_reads(fi.tu, node, {**KB.reads_only, **KB.keeps_private}))
            for node in fi.tu.of_kind(K.MEMBER_REF_EXPR) if node.spelling == member
            and (ref := callgraph.referenced(fi.tu, node)) is not None
            and ref.semantic_parent is not None and cursors.decl_id(ref.semantic_parent) == key)
    return cache[(key, member)]


def _built_once(fi: FuncInfo, base: str, member: str) -> bool:
    """Is `base->member` a field of a struct only this file sees (defined in the scanned file) that
    holds a container set while its object was made and only read after (pattern 6 for fields)?
    Every use of the field in the file is then a read, a use in the function that allocated the
    object (KB allocators) before that function publishes it, or the object's tp_dealloc/tp_clear;
    and every value stored there is a container private to that function (made and filled there)."""
    decl = next((v.cursor for v in _tu_index(fi.tu)["by_func"][id(fi.func)]["vars"] if v.spelling == base), None)
    decl = decl or next((p.cursor for p in fi.tu.children_of(fi.func)
                         if p.kind == K.PARM_DECL and p.spelling == base), None)
    ptr = decl.type.get_canonical() if decl is not None else None
    rec = ptr.get_pointee().get_canonical().get_declaration() if ptr is not None and ptr.kind == TypeKind.POINTER else None
    if (rec is None or rec.kind not in (K.STRUCT_DECL, K.CLASS_DECL) or rec.location.file is None
            or rec.location.file.name != fi.tu.main_path):
        return False
    key = (cursors.decl_id(rec), member)
    cache = _tu_index(fi.tu).setdefault("built_once", {})
    if key not in cache:
        cache[key] = False  # a recursive question while deciding: no
        cache[key] = _field_built_once(fi.tu, key)
    return cache[key]


def _field_built_once(tu: TUView, key: tuple) -> bool:
    from extmigrate.analysis import borrowed_project as P  # it imports this module
    dying = set(typeslots.data("type_slots")["dying_slots"])
    slots = typeslots.exposed(tu)
    stores = 0
    for node in tu.of_kind(K.MEMBER_REF_EXPR):
        ref = callgraph.referenced(tu, node) if node.spelling == key[1] else None
        if ref is None or ref.semantic_parent is None or cursors.decl_id(ref.semantic_parent) != key[0]:
            continue
        if node.func is None:
            return False
        if slots.get(node.func.spelling) and slots[node.func.spelling] <= dying:
            continue  # the object is being destroyed
        made = _while_made(tu, node)
        if made == "store":
            stores += 1
        elif made is None and not (P._how(tu, node, set())[0] == "read" or _macro_reads(tu, node)):
            return False
    return stores > 0


def _while_made(tu: TUView, node: Node) -> str | None:
    """'store' (a private container stored) or 'use' when `obj->field` is in the function that
    allocated `obj` and `obj` is not yet published there; None otherwise."""
    kids = tu.children_of(node)
    base = kids[0] if kids else None
    while base is not None and base.kind in (K.UNEXPOSED_EXPR, K.PAREN_EXPR):
        base = (tu.children_of(base) or [None])[0]
    if base is None or base.kind != K.DECL_REF_EXPR:
        return None
    fi = FuncInfo.of(tu, node.func)
    obj, allocators = base.spelling, typeslots.data("set_item")["allocators"]
    made = [o for o, rhs in fi.assignments(obj) if rhs is not None and o < node.start
            and any(re.search(rf"\b{re.escape(a)}\b", rhs) for a in allocators)]
    if obj not in fi.locals or not made or published(fi, obj, max(made), node.start) is not None:
        return None
    up = node.parent
    if up is None or up.kind != K.BINARY_OPERATOR or up.cursor.binary_operator != BinaryOperator.Assign:
        return "use"
    ukids = tu.children_of(up)
    if not ukids or ukids[0] is not node:
        return "use"
    value = tu.node_text(ukids[-1])
    if norm(value) in _NULLISH:
        return "use"
    with assuming() as deps:  # what the stored value is, decided in this file alone
        kind, _ = provenance(fi, value, node.start)
    if _IDENT.fullmatch(norm(value)) and published(fi, norm(value), up.end, fi.func.end - 1) is not None:
        return None  # the container is also stored elsewhere
    return "store" if kind in ("private", "tuple") and not deps else None


def _macro_reads(tu: TUView, node: Node, table: dict | None = None) -> bool:
    """Is the member access `node` the container argument of a macro that only reads it (or, with
    `table=KB.keeps_private`, reads or fills it without keeping it)? With
    3.12- headers `PyList_GET_ITEM(b->list, i)` expands to `((PyListObject *)b->list)->ob_item[i]`:
    the AST shows a member access at the macro's location, not the call KB.reads_only lists."""
    up = node.parent
    while up is not None and (up.kind in CASTS or up.kind in (K.UNEXPOSED_EXPR, K.PAREN_EXPR)):
        up = up.parent
    if up is None or (up.kind == K.CALL_EXPR and not _in_expansion(tu, up, node)):
        return False
    tail = re.compile(rf"[A-Za-z_]\w*\s*(?:->|\.)\s*{re.escape(node.spelling)}")
    end = node.end  # nested macros (`Py_SIZE(PyList_GET_ITEM(b->list, 1))`): the node is at the outer one
    if end <= node.start:
        text = file_text(tu, node.path)
        m = re.match(r"[A-Za-z_]\w*\s*\(", text[node.start:])
        end = _closing(text, node.start + m.end() - 1) if m else end
    return any(u.macro and u.path == node.path and (u.start <= node.start < u.end or node.start <= u.start < end)
               and any(i < len(u.args) and tail.fullmatch(norm(u.args[i])) for i in index)
               for name, index in (table or KB.reads_only).items() for u in tu.uses.get(name, ()))


def _in_expansion(tu: TUView, call: Node, node: Node) -> bool:
    """Is `call` part of a macro's expansion around `node` (3.14t's `PyList_GET_ITEM(op, i)` is
    `_Py_atomic_load_ptr_relaxed(&...->ob_item[i])`, and `_PyList_CAST(op)` asserts `PyList_Check(op)`),
    not a call written in the source? Its callee's name is then nowhere in the text it spans."""
    text = file_text(tu, node.path)[call.start:max(call.end, node.end)]
    return call.spelling not in text


def _instances_on_stack(tu: TUView, key) -> bool:
    """Are the struct's instances only locals (not static) of TU functions, and its pointers only
    parameters, every use of either a member access, a test, or `&local`/the pointer passed to a
    function defined in this TU? (No field, global, heap copy or returned pointer can hold one.)"""
    def mine(t) -> int:  # 1: the struct, 2: a pointer to it, 0: neither
        t = t.get_canonical()
        ptr = t.kind == TypeKind.POINTER
        d = (t.get_pointee() if ptr else t).get_canonical().get_declaration()
        return (2 if ptr else 1) if d is not None and d.kind == K.STRUCT_DECL and cursors.decl_id(d) == key else 0

    takers: set[str] = set()  # functions with a parameter of the struct's pointer type
    if any(mine(c.cursor.type) for c in tu.of_kind(*CASTS)):
        return False  # a pointer made from another one: `(Buffer *)arg`
    if not any(mine(v.cursor.type) == 1 and v.func is not None for v in tu.of_kind(K.VAR_DECL)):
        return False  # no instance on any stack here: they come from elsewhere (an object's memory)
    for node in tu.of_kind(K.VAR_DECL, K.FIELD_DECL, K.FUNCTION_DECL, K.PARM_DECL):
        if node.kind == K.FUNCTION_DECL:
            if mine(node.cursor.result_type):
                return False
            continue
        if node.kind == K.PARM_DECL:
            if mine(node.cursor.type) and node.parent is not None and node.parent.kind == K.FUNCTION_DECL:
                if node.parent.cursor.storage_class != StorageClass.STATIC:
                    return False  # callers in other files could pass any pointer
                takers.add(node.parent.spelling)
            continue
        kind = mine(node.cursor.type)
        if kind and (node.kind == K.FIELD_DECL or kind == 2 or node.func is None
                     or node.cursor.storage_class == StorageClass.STATIC):
            return False
        if kind and "=" in tu.node_text(node):  # `Buffer b = {.list = NULL}`: only NULLs and numbers
            rhs = re.sub(r"\.\s*\w+\s*=", "", tu.node_text(node).split("=", 1)[1])
            if any(w not in ("NULL", "nullptr") for w in _IDENT.findall(re.sub(r"\b\d\w*", "", rhs))):
                return False
    for node in tu.of_kind(K.DECL_REF_EXPR):
        ref = node.cursor.referenced
        kind = mine(ref.type) if ref is not None and ref.kind in (K.VAR_DECL, K.PARM_DECL) else 0
        cur, up = node, node.parent
        while up is not None and up.kind in (K.UNEXPOSED_EXPR, K.PAREN_EXPR):
            cur, up = up, up.parent
        if ref is not None and ref.kind == K.FUNCTION_DECL and ref.spelling in takers:
            if up is None or up.kind != K.CALL_EXPR or tu.children_of(up)[:1] != [cur]:
                return False  # its address is taken: a caller this analysis cannot see
            continue
        if not kind:
            continue
        if up is None:
            return False
        if up.kind == K.MEMBER_REF_EXPR and tu.children_of(up)[:1] == [cur]:
            continue  # b.x, p->x
        if up.kind == K.BINARY_OPERATOR and up.cursor.binary_operator in (BinaryOperator.EQ, BinaryOperator.NE):
            continue  # p == NULL
        if kind == 1 and up.kind == K.UNARY_OPERATOR and tu.node_text(up).lstrip().startswith("&"):
            cur, up = up, up.parent  # &b: where does the address go?
            while up is not None and up.kind in (K.UNEXPOSED_EXPR, K.PAREN_EXPR):
                cur, up = up, up.parent
        elif kind == 1:
            return False  # a copy of the whole struct
        kids = tu.children_of(up) if up is not None and up.kind == K.CALL_EXPR else []
        if cur not in kids[1:]:
            return False
        callee = callgraph.referenced(tu, up)
        body = _defined(tu, callee.spelling) if callee is not None and callee.kind == K.FUNCTION_DECL else None
        params = [p for p in tu.children_of(body) if p.kind == K.PARM_DECL] if body is not None else []
        at = kids.index(cur) - 1
        if at >= len(params) or mine(params[at].cursor.type) != 2:
            return False  # not a function of this TU that takes the struct's pointer
    return True


def _member_kept(fi: FuncInfo, var: str, member: str) -> bool:
    """Does every function but this one only read, fill or release `member` of var's struct type?"""
    from extmigrate.analysis import borrowed_project as P  # it imports this module
    decl = next((v.cursor for v in _tu_index(fi.tu)["by_func"][id(fi.func)]["vars"] if v.spelling == var), None)
    rec = decl.type.get_canonical().get_declaration() if decl is not None else None
    if rec is None or rec.kind not in (K.STRUCT_DECL, K.UNION_DECL, K.CLASS_DECL):
        return False
    key = cursors.decl_id(rec)
    for node in fi.tu.of_kind(K.MEMBER_REF_EXPR):
        if node.spelling != member or node.func is fi.func:
            continue
        ref = callgraph.referenced(fi.tu, node)
        if ref is None or ref.semantic_parent is None or cursors.decl_id(ref.semantic_parent) != key:
            continue
        if node.func is None or P._how(fi.tu, node, set())[0] not in ("read", "keep"):
            return False
    return True


def _call_kind(fi: FuncInfo, call: tuple[str, list[str]], off: int, depth: int) -> str | None:
    name, args = call
    if name in KB.fresh:
        return KB.fresh[name]
    if name in KB.build_value:
        return _build_value_kind(args)
    if name in KB.immutable:
        return "tuple"  # immutable like a tuple: nothing to race on
    if name in KB.same_or_tuple and args:
        kind, _ = provenance(fi, args[0], off, depth + 1)
        return kind if kind in ("tuple", "private") else None
    py = KB.python_fresh
    if name in py["method_calls"] or name in py["calls"]:
        return _python_fresh(fi, name, args, off)
    return _returns_fresh(fi.tu, name, depth)


def _python_fresh(fi: FuncInfo, name: str, args: list[str], off: int) -> str | None:
    """The container kind a call of a Python function by name returns when the KB knows it returns
    a new one on every call (apis.toml [python_fresh]): `PyObject_CallMethod(mod, "localeconv", 0)`
    or `PyObject_CallNoArgs(f)` with `f = PyObject_GetAttrString(mod, "localeconv")`, where
    `mod = PyImport_ImportModule("locale")` (each variable assigned once in the function)."""
    py = KB.python_fresh
    target = args[:2] if name in py["method_calls"] else None
    if target is None and args:
        call = _call_name(norm(_only_value(fi, args[0], off) or ""))
        target = call[1] if call and call[0] in py["getattrs"] else None
    if not target or len(target) != 2:
        return None
    call = _call_name(norm(_only_value(fi, target[0], off) or ""))
    module = _literal(call[1][0]) if call and call[0] in py["imports"] and call[1] else None
    return py["functions"].get(f"{module}.{_literal(target[1])}") if module else None


def _only_value(fi: FuncInfo, var: str, off: int) -> str | None:
    """The right-hand side of the one assignment of the local `var`, made before `off`."""
    var = norm(var)
    found = fi.assignments(var) if var in fi.locals else []
    return found[0][1] if len(found) == 1 and found[0][0] < off else None


def _literal(text: str) -> str | None:
    m = re.fullmatch(r'"([\w.]+)"', text.strip())
    return m.group(1) if m else None


def _rhs_kind(fi: FuncInfo, rhs: str, off: int, depth: int) -> str | None:
    e = norm(rhs)
    call = _call_name(e)
    if call:
        return _call_kind(fi, call, off, depth)
    if _IDENT.fullmatch(e):  # an alias: what the other variable is there
        kind, _ = provenance(fi, e, off, depth + 1)
        return kind
    return None


def published(fi: FuncInfo, name: str, start: int, at: int) -> int | None:
    """Offset where `name` (or a local alias of it) escapes between `start` and the use at `at`."""
    todo, seen = [name], set()
    while todo:
        var = todo.pop()
        if var in seen:
            continue
        seen.add(var)
        for off in fi.occurrences(var):
            if off < start or off == at or not fi.reaches(off, at) or fi.renewed(var, off, at):
                continue
            how = _occurrence(fi, var, off)
            if how == "escapes":
                return off
            if how and how.startswith("alias:"):
                todo.append(how[6:])
    return None


def _occurrence(fi: FuncInfo, var: str, off: int) -> str | None:
    """'escapes', 'alias:<local>' or None (a read that keeps the value private)."""
    use = fi.flow.var_use(var, off)
    if use is None:
        return _text_occurrence(fi, var, off)
    how, detail = use
    if how == "call":
        fname, index = detail
        if is_incref(fname) and "NewRef" in fname:
            return _text_occurrence(fi, var, off)  # the same object comes back: where does it go?
        if is_incref(fname) or index in KB.keeps_private.get(fname, ()):
            return None
        return "escapes" if _callee_keeps(fi.tu, fname, index) else None
    if how in ("assign", "init"):
        return "alias:" + detail if detail else "escapes"
    return None


def _text_occurrence(fi: FuncInfo, var: str, off: int) -> str | None:
    after = fi.at(off + len(var))
    if re.match(r"\s*(?:->|\.|\[|(?<![=!<>])=(?!=))", after):
        return None
    s0 = fi.stmt_start(off)
    stmt = fi.text[s0 - fi.base:off - fi.base]
    if re.match(r"\s*return\b", stmt) or stmt.rstrip().endswith("&"):
        return None
    call = _enclosing_call(stmt + var)
    if call is not None:
        fname, index, arg = call
        if fname in _NOT_CALLS or norm(arg) != var:
            return None  # a condition, or part of a larger expression (a comparison ...)
        if index in KB.keeps_private.get(fname, ()):
            return None
        return "escapes" if _callee_keeps(fi.tu, fname, index) else None
    m = None
    for m in _ASSIGN.finditer(stmt):
        pass
    if m is None or norm(stmt[m.end():]) != "" or not re.match(r"\s*[;,)]", after):
        return None
    lhs = stmt[:m.start()].strip()
    target = _IDENT.findall(lhs)[-1] if re.search(r"[A-Za-z_]\w*\s*$", lhs) else None
    if target and target in fi.locals and re.fullmatch(r"(?:[\w\s]*\*?\s*)?" + target, lhs):
        return "alias:" + target
    return "escapes"


def _enclosing_call(text: str) -> tuple[str, int, str] | None:
    """The innermost call around the end of `text`: (callee or keyword, argument index, its text)."""
    end = len(text)
    while True:
        open_at = unclosed(text, end, "(", ")")
        if open_at is None:
            return None
        m = re.search(r"([A-Za-z_]\w*)\s*$", text[:open_at])
        if m:
            args_text = text[open_at + 1:]
            commas, depth = [], 0
            for i, ch in enumerate(args_text):
                depth += {"(": 1, ")": -1, "[": 1, "]": -1, "{": 1, "}": -1}.get(ch, 0)
                if ch == "," and depth == 0:
                    commas.append(i)
            last = args_text[commas[-1] + 1:] if commas else args_text
            return m.group(1), len(commas), last
        end = open_at  # a cast or grouping parenthesis: look further out


# -- across functions of the translation unit ---------------------------------------------------
_ACTIVE: set[tuple[int, str, int]] = set()  # (function, parameter, mode) under analysis: recursion


def _defined(tu: TUView, name: str) -> Node | None:
    funcs = _tu_index(tu).setdefault("by_name", {})
    if not funcs:
        for f in tu.functions:
            funcs.setdefault(f.spelling, f)
    return funcs.get(name)


def _callee_keeps(tu: TUView, fname: str, index: int) -> bool:
    """May the function `fname` store its argument `index` where other threads can reach it?"""
    callee = _defined(tu, fname)
    if callee is None:
        return True  # unknown code: assume it does
    cfi = FuncInfo.of(tu, callee)
    if index >= len(cfi.params):
        return True  # varargs
    key = (id(callee), cfi.params[index][0], 0)
    if key in _ACTIVE:
        return False  # a recursive call passes it on: decided by the outer analysis
    cache = _tu_index(tu).setdefault("keeps", {})
    if key not in cache:
        _ACTIVE.add(key)
        try:
            end = callee.end
            cache[key] = published(cfi, cfi.params[index][0], cfi.base, end) is not None
        finally:
            _ACTIVE.discard(key)
    return cache[key]


def _returns_fresh(tu: TUView, name: str, depth: int) -> str | None:
    """'tuple' or 'private' when the function `name` of this TU only returns NULL, None, a new
    number/string or a container it created and did not publish (a helper that builds a new list)."""
    callee = _defined(tu, name)
    if callee is None:
        return "private" if _assume(f"ret:{name}") else None
    if depth > 3:
        return None
    key = (id(callee), "", 3 if _ASSUMED else 2)
    cache = _tu_index(tu).setdefault("returns", {})
    if key in cache:
        result, deps = cache[key]
        for d in deps:
            _assume(d)
        return result
    if key in _ACTIVE:
        return None
    cfi = FuncInfo.of(tu, callee)
    kinds: set[str | None] = set()
    _ACTIVE.add(key)
    try:
        with assuming() if _ASSUMED else _nothing() as deps:
            for m in re.finditer(r"\b(return\b([^;]*);|Py_RETURN_\w+)", cfi.text):
                off = cfi.base + m.start()
                if in_dead_branch(cfi.dead, off):
                    continue
                expr = norm(cfi.raw[m.start(2):m.end(2)] if m.group(2) is not None else "Py_None")
                if expr not in _NULLISH or expr == "Py_None":  # None: immutable
                    kinds.add(provenance(cfi, expr, off, depth + 1)[0] if expr != "Py_None" else "tuple")
    finally:
        _ACTIVE.discard(key)
    result = None
    if kinds and None not in kinds and "kwargs" not in kinds:
        result = "tuple" if kinds == {"tuple"} else "private"
    deps = sorted(deps or ()) if result else []
    cache[key] = (result, deps)
    for d in deps:
        _assume(d)
    return result


@contextmanager
def _nothing():
    yield None


def _is_ident(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


def _address_taken(text: str, name: str) -> bool:
    """Does `name` occur other than as a call (`name(`)?"""
    i = text.find(name)
    while i >= 0:
        j = i + len(name)
        word = (i == 0 or not _is_ident(text[i - 1])) and (j == len(text) or not _is_ident(text[j]))
        if word and not re.match(r"\s*\(", text[j:j + 200]):
            return True
        i = text.find(name, j)
    return False


def _from_callers(fi: FuncInfo, param: str, depth: int) -> str | None:
    """'private'/'tuple'/'kwargs' when every call of this static function passes such a value."""
    func = fi.func
    name, index = func.spelling, [p for p, _ in fi.params].index(param)
    if _address_taken(file_text(fi.tu, fi.path), name):
        return None  # a callback, a method table entry: its callers are unknown
    if func.cursor.storage_class != StorageClass.STATIC:  # callers in other files too
        return "private" if _assume(f"arg:{name}:{index}") else None
    key = (id(func), param, 1)
    if key in _ACTIVE or depth > 3:
        return None
    kinds = set()
    _ACTIVE.add(key)
    try:
        for call in fi.tu.uses_of(name):
            if call.macro or call.func is None:
                return None
            start, _, args, _ = call_args(fi.tu, call)
            if index >= len(args):
                return None
            if call.func is func and norm(args[index]) == param:
                continue  # recursion passes the same container on
            kind, _ = provenance(FuncInfo.of(fi.tu, call.func), args[index], start, depth + 1)
            if kind is None:
                return None
            kinds.add(kind)
    finally:
        _ACTIVE.discard(key)
    if not kinds:
        return None
    return kinds.pop() if len(kinds) == 1 else ("private" if "kwargs" not in kinds else None)


# -- how the borrowed result is used ------------------------------------------------------------
def result_use(fi: FuncInfo, start: int, end: int, node: Node | None = None) -> tuple[str | None, str]:
    """(variable holding the result or None, 'returned'|'incref'|'stored'|'local'|'tested'|'discarded').

    Decided on the AST (`node`: the call, None for a macro use) where it can tell, else on the text."""
    use = fi.flow.call_use(node, start, end)
    if use is None:
        return _text_result_use(fi, start, end)
    how, detail = use
    if how in ("tested", "returned", "discarded"):
        return None, how
    if how == "call":
        return None, ("incref" if is_incref(detail[0]) else "local")
    if how in ("assign", "init"):
        return (detail, _var_use(fi, detail, end)) if detail else (None, "stored")
    return None, "local"


def _text_result_use(fi: FuncInfo, start: int, end: int) -> tuple[str | None, str]:
    s0 = fi.stmt_start(start)
    prefix = fi.text[s0 - fi.base:start - fi.base]
    suffix = fi.at(end)
    if _COMPARED.match(suffix) or re.search(r"[=!]=\s*\(*\s*$", prefix):
        return None, "tested"
    if re.match(r"\s*return\b", prefix):
        return None, ("incref" if _INCREF.search(prefix) else "returned")
    if _INCREF.search(prefix):
        return None, "incref"
    stripped = re.sub(r"(\(\s*(?:const\s+)?[A-Za-z_]\w*\s*\**\s*\)\s*)+$", "", prefix.rstrip()).rstrip()
    m = re.search(r"(?<![=!<>])=\s*$", stripped)
    if m:
        lhs = stripped[:m.start()].strip().lstrip("(")
        var = _IDENT.findall(lhs)[-1] if _IDENT.search(lhs) else None
        if var and re.fullmatch(r"(?:[\w\s]*\*?\s*)?" + var, lhs):
            return var, _var_use(fi, var, end)
        return None, "stored"
    if not stripped.strip() and re.match(r"\s*;", suffix):
        return None, "discarded"
    if re.search(r"(?:\b(?:if|while)\s*\(|!|&&|\|\|)\s*$", stripped) and re.match(r"\s*(\)|&&|\|\|)", suffix):
        return None, "tested"
    return None, "local"


def _compared(prefix: str, rest: str) -> bool:
    """Is this occurrence only compared (`v == Py_None`, `x != v`) or truth-tested (`if (!v)`)?"""
    return bool(_COMPARED.match(rest) or re.search(r"[=!]=\s*\(*\s*$", prefix)
                or (_TESTED_BEFORE.search(prefix) and _TESTED_AFTER.match(rest)))


def _var_use(fi: FuncInfo, var: str, after: int, seen: frozenset = frozenset()) -> str:
    """How the local `var` holding a borrowed result is used after `after`: 'incref', 'returned',
    'stored' (kept elsewhere, or handed to another local that is used), 'tested' (only compared)
    or 'local'."""
    compared_only = True
    for off in fi.occurrences(var):
        if off < after:
            continue
        use = fi.flow.var_use(var, off)
        how = _text_var_occurrence(fi, var, off) if use is None else _ast_var_occurrence(fi, use, off, seen | {var})
        if how == "reassigned":
            compared_only = False  # perhaps in another branch only: the value may still be used after
            break
        if how == "tested":
            continue
        compared_only = False
        if how in ("incref", "returned", "stored"):
            return how
    # only compared by identity (`if (r == Py_None)`), never dereferenced: nothing to free under it
    return "tested" if compared_only else "local"


def _ast_var_occurrence(fi: FuncInfo, use: tuple, off: int, seen: frozenset) -> str:
    how, detail = use
    if how == "lhs":
        return "reassigned"
    if how == "call":
        return "incref" if is_incref(detail[0]) else "local"
    if how in ("assign", "init"):
        if not detail:
            return "stored"
        if detail in seen:
            return "local"
        # another local: only compared, it changes nothing; used any other way, the fix cannot follow
        return "tested" if _var_use(fi, detail, off, seen) == "tested" else "stored"
    return how if how in ("tested", "returned") else "local"


def _text_var_occurrence(fi: FuncInfo, var: str, off: int) -> str:
    s0 = fi.stmt_start(off)
    prefix = fi.text[s0 - fi.base:off - fi.base]
    rest = fi.at(off + len(var))
    if re.match(r"\s*=(?!=)", rest):
        return "reassigned"
    if _compared(prefix, rest):
        return "tested"
    if _INCREF.search(prefix):
        return "incref"
    if re.match(r"\s*return\b", prefix) and norm(prefix.strip()[6:] + var) == var:
        return "returned"
    m = _ASSIGN.search(prefix)
    if m and not re.search(r"\(", prefix[m.end():]) and not _IDENT.fullmatch(prefix[:m.start()].strip()):
        return "stored"
    return "local"


# -- the check itself ---------------------------------------------------------------------------
def exempt_function(fi: FuncInfo) -> bool:
    """tp_traverse functions run while every other thread is stopped; static helpers that only module
    initialisation (or teardown) calls run before any other thread can use the module."""
    return any(t.replace(" ", "") == "visitproc" for _, t in fi.params) or _init_only(fi.tu, fi.func)


def _init_only(tu: TUView, func: Node) -> bool:
    """Is `func` reachable in this TU from init roots only (callgraph.py), with every function other
    TUs can call (external linkage) counted as an entry point?"""
    idx = _tu_index(tu)
    if "graph" not in idx:
        facts = callgraph.collect(tu)
        extern = {k for k in facts["defs"] if ":" not in k} - set(facts["init"])
        idx["graph"] = callgraph.CallGraph([dict(facts, taken=sorted(set(facts["taken"]) | extern))])
    key = callgraph.node_key(tu, func)
    return key in idx["graph"].defs and not idx["graph"].runs_after_init(key)


def _closing(text: str, open_at: int, opener: str = "(", closer: str = ")") -> int:
    depth = 0
    for m in re.compile(f"[{re.escape(opener)}{re.escape(closer)}]").finditer(text, open_at):
        depth += 1 if m.group() == opener else -1
        if depth == 0:
            return m.start()
    return len(text)


def call_args(tu: TUView, use: Use) -> tuple[int, int, list[str], bool]:
    """(start, end, argument texts, from a macro body) of a use, located in the source.

    `F(PyList_GetItem)(l, i)` and calls inside macro arguments (whose cursor extent is the macro's)
    are pinned to the API name; a call written in a project macro's body is reported at the macro
    use, with the macro's parameters replaced by the use's arguments."""
    text = file_text(tu, use.path)
    after = text[use.start + len(use.name):use.start + len(use.name) + 50]
    if text.startswith(use.name, use.start) and (use.macro or re.match(r"\s*\(", after)):
        return use.start, use.end, use.args, False
    stop = _statement_end(text, use.start)
    m = re.compile(rf"\b{re.escape(use.name)}\b\s*\)*\s*\(").search(text, use.start, stop)
    if m:
        close = _closing(text, m.end() - 1)
        raw = tu.source(use.path)[m.end() - 1:close + 1].decode("latin-1")
        return m.start(), close + 1, split_args(raw), False
    outer = re.match(r"[A-Za-z_]\w*", text[use.start:])
    body = macro_body(tu, outer.group(0)) if outer else None
    if body is not None:
        params, code = body
        m = re.search(rf"\b{re.escape(use.name)}\s*\(", code)
        if m:
            args = split_args(code[m.end() - 1:])
            actual = split_args(text[use.start:use.end])
            subst = dict(zip(params, actual))
            args = [re.sub(r"[A-Za-z_]\w*", lambda w: subst.get(w.group(0), w.group(0)), a) for a in args]
            return use.start, use.end, args, True
    return use.start, use.end, use.args, True


def _statement_end(text: str, pos: int) -> int:
    depth = 0
    for i in range(pos, min(len(text), pos + 4000)):
        ch = text[i]
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if depth < 0 or (depth == 0 and ch in ";{}"):
            return i
    return min(len(text), pos + 4000)


def macro_body(tu: TUView, name: str) -> tuple[list[str], str] | None:
    """(parameters, body) of a function-like macro defined in one of the TU's project files."""
    cache = _tu_index(tu).setdefault("macros", {})
    if name not in cache:
        cache[name] = None
        pat = re.compile(rf"^[ \t]*#[ \t]*define[ \t]+{re.escape(name)}\(([^)]*)\)((?:[^\n\\]|\\.)*)",
                         re.M | re.S)
        for path in sorted(tu.files):
            m = pat.search(file_text(tu, path))
            if m:
                params = [p.strip() for p in m.group(1).split(",")]
                cache[name] = (params, m.group(2).replace("\\\n", " "))
                break
    return cache[name]


def check_uses(rule, tu: TUView, apis: list[kb.BorrowedApi], message) -> list[Finding]:
    """Findings for every unsafe use of `apis`; `message(api, container, args)` words them."""
    by_name = {a.name: a for a in apis}
    out: list[Finding] = []
    for use in tu.uses_of(*by_name):
        api = by_name[use.name]
        if use.func is None or in_dead_code(tu, use.path, use.start):
            continue
        fi = FuncInfo.of(tu, use.func)
        if exempt_function(fi):
            continue
        start, end, args, in_macro = call_args(tu, use)
        has_container = api.container is not None and len(args) > api.container
        container = norm(args[api.container]) if has_container else ""
        wrapped = re.fullmatch(r"\w+\s*\(\s*", file_text(tu, use.path)[use.start:start])
        var, how = (None, "local") if in_macro else result_use(fi, use.start if wrapped else start, end,
                                                                  None if wrapped else use.node)
        if how in ("tested", "discarded") and not api.out:
            continue
        related: list[Site] = []
        assumes: list[str] = []
        if container and api.holds not in UNTRACKED:
            shared = judge_container(fi, use.path, start, container, api)
            if shared is None:
                continue
            related, assumes = shared
        data = {"api": api.name, "container": container, "args": args, "macro": use.macro,
                "in_macro_body": in_macro,
                "holds": api.holds, "remedy": api.remedy, "replacement": api.replacement,
                "since": api.since, "replacement_form": api.replacement_form, "compat": api.compat,
                "result_var": var, "result_use": how, "loop": fi.loop_at(start),
                "out": [norm(args[i]).lstrip("&") for i in api.out if i < len(args)]}
        if assumes:
            data["assumes"] = assumes  # dropped project-wide when other files prove them all
        shown = container or (norm(args[0]) if args else "")
        symbol = f"{api.name}({shown})"
        (line, col), (eline, ecol) = _line_col(tu, use.path, start), _line_col(tu, use.path, end)
        out.append(rule.finding((use.path, start, end, line, col, eline, ecol), symbol,
                                message(api, container, args), function=use.function_name,
                                related=related, data=data))
    return out


def judge_container(fi: FuncInfo, path: str, at: int, container: str,
                    api: kb.BorrowedApi) -> tuple[list[Site], list[str]] | None:
    """None when no other thread can reach `container` at `at` (guarded, private, a tuple, the dying
    object), else (related sites: where it was made reachable; assumptions other files may prove)."""
    tu = fi.tu
    if _guarded(tu, fi.func, at, container) or _of_dying_object(fi, container):
        return None
    kind, spoiled = provenance(fi, container, at)
    if _unshared(kind, api):
        return None
    if spoiled is not None:
        line, col = _line_col(tu, path, spoiled)
        return [Site(path, line, col, f"'{container}' is made reachable here")], []
    if not _main_file(tu, path):  # a header's finding is kept from one TU only
        return [], []
    with assuming() as deps:
        kind, _ = provenance(fi, container, at)
    return [], (sorted(deps) if _unshared(kind, api) else [])


def _of_dying_object(fi: FuncInfo, container: str) -> bool:
    """Is the container a field of the object a tp_dealloc / tp_clear (KB dying_slots) destroys?"""
    slots = typeslots.exposed(fi.tu).get(fi.func.spelling)
    if not slots or not slots <= set(typeslots.data("type_slots")["dying_slots"]) or not fi.params:
        return False
    root = re.match(r"([A-Za-z_]\w*)(?:->|\.)", container)
    if root is None:
        return False
    name, obj = root.group(1), fi.params[0][0]
    if name == obj:
        return True
    aliases = fi.assignments(name)  # `Obj *o = (Obj *)self;`
    return bool(aliases) and all(rhs is not None and norm(rhs) == obj for _, rhs in aliases)


def _main_file(tu: TUView, path: str) -> bool:
    """Is `path` the TU's own file (not a header or an included .c file other TUs share)?"""
    main = _tu_index(tu).setdefault("main", os.path.realpath(tu.main_path))
    return path == tu.main_path or os.path.realpath(path) == main


def _unshared(kind: str | None, api: kb.BorrowedApi) -> bool:
    return kind == "private" or kind == "tuple" or (kind == "kwargs" and api.holds == "dict")


def _guarded(tu: TUView, func: Node, at: int, container: str) -> bool:
    if guard_at(tu, func, at, container):
        return True
    owner = re.match(r"([A-Za-z_]\w*)(?:->|\.)", container)
    # the project's own lock macros and helpers open lock regions too (analysis/locks.py)
    return bool(owner and guard_at(tu, func, at, owner.group(1)))


def _line_col(tu: TUView, path: str, off: int) -> tuple[int, int]:
    head = tu.source(path)[:off]
    return head.count(b"\n") + 1, off - (head.rfind(b"\n") + 1) + 1
