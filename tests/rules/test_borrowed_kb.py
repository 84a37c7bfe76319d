"""The API knowledge base (data/apis.toml via kb.py) and the free-threaded branch evaluator."""

from __future__ import annotations

import pytest

from extmigrate import kb
from extmigrate.analysis.ppbranch import dead_ranges, evaluate
from extmigrate.rules import get_rule

# The borrowed-reference table of CPython's free-threading howto and its replacements.
HOWTO = {
    "PyList_GetItem": "PyList_GetItemRef", "PyList_GET_ITEM": "PyList_GetItemRef",
    "PyDict_GetItem": "PyDict_GetItemRef", "PyDict_GetItemWithError": "PyDict_GetItemRef",
    "PyDict_GetItemString": "PyDict_GetItemStringRef", "PyDict_SetDefault": "PyDict_SetDefaultRef",
    "PyDict_Next": None, "PyWeakref_GetObject": "PyWeakref_GetRef",
    "PyWeakref_GET_OBJECT": "PyWeakref_GetRef", "PyImport_AddModule": "PyImport_AddModuleRef",
    "PyCell_GET": "PyCell_Get",
}


def test_every_howto_api_has_its_replacement_and_a_rule():
    k = kb.load()
    for name, replacement in HOWTO.items():
        api = k.borrowed[name]
        assert api.replacement == replacement, name
        assert get_rule(api.rule) is not None and get_rule(api.rule).category == "borrowed-ref"
        if replacement and replacement != "PyCell_Get":
            assert api.since == "3.13" and api.compat == "pythoncapi-compat"
    assert k.borrowed["PyDict_Next"].remedy == "critical-section"
    assert k.borrowed["PyDict_Next"].out == (2, 3)
    assert {a.name for a in k.for_rule("FT108")} == {"PySequence_Fast_GET_ITEM", "PySequence_Fast_ITEMS"}
    assert k.borrowed["PyList_GET_ITEM"].kind == "macro" and k.borrowed["PyList_GetItem"].kind == "call"


def test_ownership_facts():
    k = kb.load()
    assert kb.load() is k  # cached: one load per process
    assert k.fresh["PyList_New"] == "list" and k.fresh["PyDict_Copy"] == "dict"
    assert k.fresh["PySequence_Tuple"] == "tuple" and "PySequence_Fast" not in k.fresh
    assert k.returns_new("PyList_GetItemRef") and k.returns_new("PyObject_GetAttr")
    assert not k.returns_new("PyList_GetItem") and k.returns_borrowed("PyList_GetItem")
    assert k.returns_borrowed("PyTuple_GET_ITEM") and k.returns_borrowed("PySys_GetObject")
    assert k.new_out["PyDict_GetItemRef"] == 2 and k.new_out["PyWeakref_GetRef"] == 1
    assert 0 in k.keeps_private["PyList_Append"] and 1 not in k.keeps_private["PyList_Append"]


@pytest.mark.parametrize("cond, value", [
    ("PY_VERSION_HEX < 0x030D0000", False),
    ("PY_VERSION_HEX < 0x030D00A4", False),
    ("PY_VERSION_HEX >= 0x030D0000", True),
    ("PY_VERSION_HEX < 0x030E0000", None),  # 3.13 or 3.14: unknown
    ("PY_VERSION_HEX < _Py_PACK_VERSION(3, 13) || (defined(Py_LIMITED_API) && Py_LIMITED_API+0 < 0x030D0000)",
     False),
    ("PY_MAJOR_VERSION == 3 && PY_MINOR_VERSION < 13", False),
    ("!defined(Py_GIL_DISABLED)", False),
    ("defined(PYPY_VERSION)", False),
    ("defined(HAVE_FOO) && PY_VERSION_HEX < 0x030C0000", False),
    ("defined(HAVE_FOO) || PY_VERSION_HEX < 0x030C0000", None),
    ("SOME_MACRO(1, 2) > 3", None),
    ("garbage ??? (", None),
])
def test_conditions_under_a_free_threaded_build(cond, value):
    assert evaluate(cond) is value


def test_dead_ranges_follow_else_and_elif():
    text = ("#if PY_VERSION_HEX >= 0x030D0000\nnew\n#elif FOO\nold1\n#else\nold2\n#endif\n"
            "#ifndef Py_GIL_DISABLED\ngil\n#endif\n#if FOO\n# if PY_VERSION_HEX < 0x030D0000\nold3\n# endif\n#endif\n")
    dead = [text[s:e].strip() for s, e in dead_ranges(text)]
    assert dead == ["old1", "old2", "gil", "old3"]
