"""FT515 torn-state-read: a method reads object state that another method changes without a lock."""

from __future__ import annotations

from clang.cindex import TypeKind

from extmigrate import cursors
from extmigrate.analysis.callgraph import data as state_data
from extmigrate.analysis.selfguard import guard, replaces
from extmigrate.analysis.selfwrites import aliases, by_function, params, unguarded_writes
from extmigrate.analysis.typeslots import data, exposed, shared_slots, strip
from extmigrate.model import Finding, Site
from extmigrate.rootcause import GROUP_MIN, MORE, gather
from extmigrate.rules import register
from extmigrate.rules.base import Rule
from extmigrate.tree import K, TUView



@register
class TornStateRead(Rule):
    code = "FT515"
    name = "torn-state-read"
    category = "other"
    severity = "warning"
    summary = ("a method reads fields of self that another method writes one by one, or replaces and "
               "releases, without a critical section")
    explanation = ("Without the GIL a method can run while another method on the same object is half "
                   "way through its stores. A reader of two or more fields the writer changes one by "
                   "one (a digest() reading what update() writes) sees some fields new and others old: "
                   "a state the object never had. A reader of a pointer field the writer replaces and "
                   "releases (Py_XSETREF) can take a reference to an object already freed.")
    action = ("Read the fields inside Py_BEGIN_CRITICAL_SECTION(self) ... Py_END_CRITICAL_SECTION() "
              "(the writers need one too: FT510), or guard reader and writers with the same PyMutex.")
    doc = """
    Checks every function Python calls on a live object (the same slots as FT510). It is reported
    when, outside a critical section on self or a held lock, it reads
    - two or more fields of self that other such functions write without one (the writers are the
      finding's related locations), or
    - a field another such function replaces and releases (`Py_XSETREF(self->x, v)`, a store after
      `Py_XDECREF(self->x)` or `PyMem_Free(self->buf)`, or `old = self->x; self->x = v;
      Py_XDECREF(old);`), also from `tp_init`, which Python can call again on a published object.
    A function that itself writes the object's fields without a critical section is left to FT510
    (one critical section fixes both). Not reported: reads under `Py_BEGIN_CRITICAL_SECTION(self)`,
    fields written only in `tp_new` or first set in `tp_init`, a read of a single field that its
    writers store whole (a word-sized counter), `_Atomic` fields, and fields no single run of the
    reader reads two of: each in its own arm of an if/else-if chain, a `?:` or a switch case that
    ends in `break`/`return`, or after an `if (...) return ...;` that read the other (a getattr
    returning one field per attribute name). Fields are matched by declaration,
    so two types with a field of the same name are not mixed up. A separate rule from FT510 because
    the finding sits in another function (the reader) and is fixed there. Three or more readers of
    the same fields racing with the same writers are one finding at the writers' first store, each
    reader a site (JSON `sites`; a suppression at a reader drops that reader).

    Before:

        static PyObject *
        hasher_update(HasherObject *self, PyObject *data)
        {
            ...
            self->total += n;
            self->crc = crc32(self->crc, buf, n);
            ...
        }

        static PyObject *
        hasher_digest(HasherObject *self, PyObject *unused)
        {
            return Py_BuildValue("(nk)", self->total, self->crc);   /* torn */
        }

    After:

        static PyObject *
        hasher_digest(HasherObject *self, PyObject *unused)
        {
            PyObject *res;
            Py_BEGIN_CRITICAL_SECTION(self);
            res = Py_BuildValue("(nk)", self->total, self->crc);
            Py_END_CRITICAL_SECTION();
            return res;
        }
    """

    def collect(self, tu: TUView) -> dict:
        """Per function: its unguarded field stores (writers) and its unguarded field reads (readers),
        fields named by their declaration's USR; finish() joins them with every TU's type slots."""
        here = exposed(tu)
        guarded = guard(tu)
        funcs = []
        for fn in tu.functions:
            static = cursors.linkage(fn.cursor) == cursors.INTERNAL
            if static and fn.spelling not in here:
                continue
            ps = params(tu, fn)
            if not ps:
                continue
            reach = [r for r in unguarded_writes(tu, fn, guarded) if not r.write.api]
            writes = [w for w in (_write_fact(tu, r) for r in reach) if w]
            reads, together = ([], []) if reach else _reads(tu, fn, aliases(tu, fn, ps[0].spelling), guarded)
            if writes or reads:
                funcs.append({"name": fn.spelling, "static": static, "path": fn.path,
                              "func_start": fn.start, "func_end": fn.end,
                              "slots": sorted(here.get(fn.spelling, ())), "self": ps[0].spelling,
                              "writes": writes, "reads": reads, "together": together})
        return {"exposed": {k: sorted(v) for k, v in here.items()}, "funcs": funcs}

    def finish(self, facts: list, findings: list[Finding]) -> list[Finding]:
        everywhere: dict[str, set[str]] = {}
        for fact in facts:
            for name, slots in fact["exposed"].items():
                everywhere.setdefault(name, set()).update(slots)
        reinit_slots = set(data("type_slots")["reinit_slots"])
        writers: dict[str, list[tuple[str, dict]]] = {}  # field USR -> (writer, write)
        readers = []
        for fact in facts:
            for fn in fact["funcs"]:
                bound = set(fn["slots"]) if fn["static"] else everywhere.get(fn["name"], set())
                shared = shared_slots(bound)
                for w in fn["writes"]:
                    if shared or (bound & reinit_slots and w["replaces"]):
                        writers.setdefault(w["usr"], []).append((fn["name"], w))
                if shared and fn["reads"]:
                    readers.append((fn, shared))
        return self._by_writer([f for f in (self._report(fn, slots, writers) for fn, slots in readers) if f])

    def _by_writer(self, found: list[Finding]) -> list[Finding]:
        """GROUP_MIN or more readers of the same fields racing with the same writers: one finding at
        the first writer's store, each reader a site (rootcause.gather)."""
        groups: dict[tuple, list[Finding]] = {}
        for f in found:
            groups.setdefault((tuple(f.data["writers"]), tuple(sorted(f.data["fields"])),
                               f.data["released"]), []).append(f)
        out = []
        for (writers, fields, released), members in groups.items():
            if len(members) < GROUP_MIN:
                out += members
                continue
            own = [Site(r.path, r.line, r.column, r.note.split(" (and ")[0]) for r in members[0].related]
            w = own[0]
            shown = ", ".join(f"{members[0].data['self']}->{x}" for x in fields)
            how = "replacing and releasing values" if released else "one by one"
            risk = "a freed object" if released else "a torn state"
            cause = self.finding(
                (w.path, 0, 0, w.line, w.column, w.line, w.column + 1), ", ".join(writers),
                f"{', '.join(writers)} change {shown} without a critical section ({how}), and {len(members)} "
                f"methods exposed to Python read them meanwhile ({', '.join(m.symbol for m in members[:3])}"
                f"{', ...' if len(members) > 3 else ''}): each can see {risk}",
                function=w.note.split(" ", 1)[0], related=own,  # the writer that makes that store
                data={"writers": list(writers), "fields": list(fields), "released": released,
                      "readers": sorted(m.symbol for m in members),
                      "reader_methods": [[m.path, m.data["func_start"], m.data["self"]] for m in members]})
            out.append(gather(cause, members, lambda m: f"{m.symbol} ({', '.join(m.data['slots'])}) reads "
                                                        f"{', '.join(m.data['fields'])}"))
        return out

    def _report(self, fn: dict, slots: set[str], writers: dict) -> Finding | None:
        racy = [r for r in fn["reads"] if any(w != fn["name"] for w, _ in writers.get(r["usr"], ()))]
        released = [r for r in racy if any(w["replaces"] for _, w in writers[r["usr"]])]
        usrs = {r["usr"] for r in racy}
        if not released and not any(a in usrs and b in usrs for a, b in fn.get("together", ())):
            return None  # fewer than two racy fields, or never two of them on one path
        me = fn["self"]
        sites = sorted({(w["path"], w["line"], w["column"]): (name, w) for r in racy
                        for name, w in writers[r["usr"]] if name != fn["name"]}.items())
        sites = [site for _, site in sites]
        related = [Site(w["path"], w["line"], w["column"],
                        f"{name} {'replaces' if w['replaces'] else 'writes'} {w['via']}->{w['field']}")
                   for name, w in sites[:MORE]]
        if len(sites) > MORE:
            related[-1].note += f" (and {len(sites) - MORE} more)"
        names = sorted({name for name, _ in sites})
        fields = ", ".join(f"{r['via']}->{r['field']}" for r in racy)
        if released:
            why = (f"{', '.join(names)} replaces and releases "
                   + ", ".join(f"{r['via']}->{r['field']}" for r in released)
                   + " without a critical section: this read can take a reference to a freed object")
        else:
            why = (f"{', '.join(names)} writes them one by one without a critical section: this read "
                   "can see some new and some old (a torn state)")
        first = racy[0]
        start = first["start"]
        return self.finding(
            (fn["path"], start, start, first["line"], first["column"], first["line"], first["column"] + 1),
            fn["name"], f"'{fn['name']}' ({', '.join(sorted(slots))}) reads {fields}; {why}",
            function=fn["name"], related=related,
            data={"self": me, "fields": [r["field"] for r in racy], "writers": names,
                  "released": bool(released),
                  "slots": sorted(slots), "func_start": fn["func_start"], "func_end": fn["func_end"]})


def _write_fact(tu: TUView, r) -> dict | None:
    """A store, with the USR of the field it stores to (the top field of `self->a.b`)."""
    top = r.write.field.split(".")[0].split("->")[0]
    for ref in by_function(tu, (K.MEMBER_REF_EXPR,)).get(id(r.where), []):
        if ref.spelling == top and ref.start >= r.write.start and ref.cursor.referenced is not None:
            return {"usr": ref.cursor.referenced.get_usr(), "field": top, "via": r.write.via,
                    "path": r.where.path, "line": r.write.line, "column": r.write.column,
                    "replaces": replaces(tu, r)}
    return None


def _reads(tu: TUView, fn, names: set[str], guarded) -> tuple[list[dict], list[list[str]]]:
    """The first unguarded read of each field of self (`self->x`, through aliases), in source order,
    `_Atomic` fields left out; and the pairs of fields (USRs) some run of the function reads both of."""
    out: dict[str, dict] = {}
    seen: dict[str, list] = {}  # every unguarded read of each field
    markers = state_data("atomics")["type_markers"]
    for ref in by_function(tu, (K.MEMBER_REF_EXPR,)).get(id(fn), []):
        kids = tu.children_of(ref)
        if not kids:
            continue
        base = strip(tu, kids[0])
        decl = ref.cursor.referenced
        if (base.kind != K.DECL_REF_EXPR or base.spelling not in names or decl is None
                or kids[0].cursor.type.get_canonical().kind != TypeKind.POINTER
                or any(m in decl.type.spelling for m in markers)):
            continue
        usr = decl.get_usr()
        if guarded(fn, ref.start, names):
            continue
        seen.setdefault(usr, []).append(ref)
        if usr in out:
            continue
        _, start, _, line, col = ref.extent()[:5]
        out[usr] = {"usr": usr, "field": ref.spelling, "via": base.spelling, "start": start, "line": line,
                    "column": col}
    fields = sorted(seen)
    together = [[a, b] for i, a in enumerate(fields) for b in fields[i + 1:]
                if any(_one_path(fn, x, y) for x in seen[a] for y in seen[b])]
    return sorted(out.values(), key=lambda r: r["start"]), together


_LOOPS = frozenset({K.FOR_STMT, K.WHILE_STMT, K.DO_STMT, K.CXX_FOR_RANGE_STMT})
_JUMPS = frozenset({K.BREAK_STMT, K.CONTINUE_STMT, K.GOTO_STMT})


def _one_path(fn, a, b) -> bool:
    """Can one run of `fn` evaluate both `a` and `b`? No when they sit in different arms of an
    if/else (an else-if chain) or `?:`, or when every path from the earlier one returns, or leaves
    its switch case by `break`, before the later one (sequential `if (...) return ...;` tests and
    switch cases). Loops and jumps keep the answer yes."""
    if a.start > b.start:
        a, b = b, a
    child = a
    for up in a.ancestors():
        if up is fn:
            return True
        kids = up.kids
        if up.start <= b.start and b.end <= up.end:  # the innermost statement holding both
            arm = next((i for i, k in enumerate(kids) if k.start <= b.start and b.end <= k.end), None)
            if up.kind in (K.IF_STMT, K.CONDITIONAL_OPERATOR):
                mine = kids.index(child)
                return mine == 0 or arm is None or arm == 0 or mine == arm  # kids[0]: the condition
            if up.kind == K.COMPOUND_STMT and arm is not None:
                leave = {K.RETURN_STMT} | ({K.BREAK_STMT} if up.parent is not None
                                           and up.parent.kind == K.SWITCH_STMT else set())
                return not any(k.kind in leave for k in kids[kids.index(child) + 1:arm])
            return True
        if up.kind == K.RETURN_STMT:
            return False
        if up.kind in _LOOPS:
            return True
        if up.kind == K.COMPOUND_STMT:
            at = kids.index(child)
            ret = next((i for i in range(at + 1, len(kids)) if kids[i].kind == K.RETURN_STMT), None)
            if ret is not None and not any(_jumps(k) for k in kids[at:ret]):
                return False  # every path from `a` returns before leaving this block
        child = up
    return True


def _jumps(node) -> bool:
    return node.kind in _JUMPS or any(_jumps(k) for k in node.kids)
