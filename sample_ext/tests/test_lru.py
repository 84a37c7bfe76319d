"""Behaviour of every function and method of the _lru modules."""

import importlib
import operator

import pytest

from reference import ref_tokenize


class Key:
    """A key with Python-level __eq__/__hash__ that counts comparisons."""

    def __init__(self, name):
        self.name = name
        self.compared = 0

    def __hash__(self):
        return hash(self.name)

    def __eq__(self, other):
        self.compared += 1
        return isinstance(other, Key) and other.name == self.name

    def __repr__(self):
        return f"Key({self.name!r})"


def filled(mod, maxsize, keys, **kw):
    cache = mod.LRUCache(maxsize, **kw)
    for k in keys:
        cache.put(k, k.upper() if isinstance(k, str) else k)
    return cache


# -- LRUCache construction ---------------------------------------------------


def test_default_maxsize(mod):
    cache = mod.LRUCache()
    assert cache.maxsize == mod.DEFAULT_MAXSIZE == 128
    assert len(cache) == 0


def test_maxsize_keyword_and_readonly(mod):
    cache = mod.LRUCache(maxsize=5)
    assert cache.maxsize == 5
    with pytest.raises(AttributeError):
        cache.maxsize = 6


@pytest.mark.parametrize("bad", [0, -1])
def test_maxsize_must_be_positive(mod, bad):
    with pytest.raises(ValueError, match="maxsize"):
        mod.LRUCache(bad)


def test_maxsize_type_checked(mod):
    with pytest.raises(TypeError):
        mod.LRUCache("10")


def test_on_evict_must_be_callable(mod):
    with pytest.raises(TypeError, match="on_evict"):
        mod.LRUCache(3, on_evict=42)
    assert len(mod.LRUCache(3, on_evict=None)) == 0


# -- get / put -----------------------------------------------------------------


def test_put_then_get(mod):
    cache = mod.LRUCache(3)
    cache.put("a", 1)
    cache.put(("t", 2), [2])
    assert cache.get("a") == 1
    assert cache.get(("t", 2)) == [2]
    assert len(cache) == 2


def test_get_missing_returns_default(mod):
    cache = mod.LRUCache(3)
    assert cache.get("nope") is None
    sentinel = object()
    assert cache.get("nope", sentinel) is sentinel


def test_get_wrong_arity(mod):
    cache = mod.LRUCache(3)
    with pytest.raises(TypeError):
        cache.get()
    with pytest.raises(TypeError):
        cache.get(1, 2, 3)


@pytest.mark.parametrize("args", [(), ("k",), ("k", 1, 2)])
def test_put_wrong_arity(mod, args):
    cache = mod.LRUCache(3)
    with pytest.raises(TypeError, match="put"):
        cache.put(*args)
    assert len(cache) == 0


def test_unhashable_key(mod):
    cache = mod.LRUCache(3)
    with pytest.raises(TypeError):
        cache.put([], 1)
    with pytest.raises(TypeError):
        cache.get([])
    with pytest.raises(TypeError):
        [] in cache
    assert len(cache) == 0 and cache.keys() == []


def test_evicts_least_recently_used(mod):
    cache = filled(mod, 3, "abc")
    cache.put("d", "D")
    assert "a" not in cache
    assert cache.keys() == ["b", "c", "d"]


def test_get_refreshes_recency(mod):
    cache = filled(mod, 3, "abc")
    assert cache.get("a") == "A"
    assert cache.keys() == ["b", "c", "a"]
    cache.put("d", "D")
    assert cache.keys() == ["c", "a", "d"]
    assert "b" not in cache


def test_put_existing_key_updates_without_eviction(mod):
    evicted = []
    cache = filled(mod, 3, "abc", on_evict=lambda k, v: evicted.append(k))
    cache.put("a", "new")
    assert cache.keys() == ["b", "c", "a"]
    assert cache.peek("a") == "new"
    assert evicted == []
    assert cache.stats()["evictions"] == 0


def test_equal_but_distinct_keys(mod):
    cache = mod.LRUCache(2)
    cache.put(Key("x"), 1)
    cache.put(Key("y"), 2)
    assert cache.get(Key("x")) == 1
    assert [k.name for k in cache.keys()] == ["y", "x"]


def test_key_eq_errors_propagate(mod):
    class Bad(Key):
        def __eq__(self, other):
            raise RuntimeError("no compare")

        __hash__ = Key.__hash__

    cache = mod.LRUCache(3)
    cache.put("b", 2)
    cache.put(Bad("a"), 1)
    # Refreshing "b" compares it with the newer keys, Bad.__eq__ among them.
    with pytest.raises(RuntimeError, match="no compare"):
        cache.get("b")


def test_maxsize_one(mod):
    cache = filled(mod, 1, "abc")
    assert cache.keys() == ["c"]
    assert cache.stats()["evictions"] == 2


# -- on_evict ------------------------------------------------------------------


def test_on_evict_called_in_lru_order(mod):
    evicted = []
    cache = filled(mod, 2, "abcd", on_evict=lambda k, v: evicted.append((k, v)))
    assert evicted == [("a", "A"), ("b", "B")]
    assert cache.keys() == ["c", "d"]


def test_on_evict_error_keeps_entry(mod):
    def refuse(key, value):
        raise LookupError(key)

    cache = filled(mod, 2, "ab", on_evict=refuse)
    with pytest.raises(LookupError, match="a"):
        cache.put("c", "C")
    assert cache.keys() == ["a", "b"]
    assert "c" not in cache
    assert cache.stats()["evictions"] == 0


# -- peek / keys / __len__ / __contains__ -----------------------------------


def test_peek_does_not_touch_recency_or_stats(mod):
    cache = filled(mod, 3, "abc")
    before = cache.stats()
    assert cache.peek("a") == "A"
    assert cache.keys() == ["a", "b", "c"]
    assert cache.stats() == before


def test_peek_missing_raises_keyerror(mod):
    cache = mod.LRUCache(3)
    with pytest.raises(KeyError) as info:
        cache.peek("zz")
    assert info.value.args == ("zz",)


def test_len_and_contains(mod):
    cache = filled(mod, 4, "abc")
    assert len(cache) == 3
    assert "b" in cache and "z" not in cache
    assert cache.stats()["hits"] == 0  # membership is not a lookup


def test_keys_returns_independent_lists(mod):
    cache = filled(mod, 4, "abc")
    first = cache.keys()
    second = cache.keys()
    assert first == second == ["a", "b", "c"]
    assert first is not second
    cache.put("d", "D")
    cache.get("a")
    assert first == ["a", "b", "c"]  # a list we hold is never refilled
    assert second == ["a", "b", "c"]
    assert cache.keys() == ["b", "c", "d", "a"]


def test_keys_after_releasing_previous_result(mod):
    cache = filled(mod, 4, "ab")
    assert cache.keys() == ["a", "b"]  # each result is dropped at once
    cache.put("c", "C")
    assert cache.keys() == ["a", "b", "c"]
    cache.get("a")
    assert cache.keys() == ["b", "c", "a"]
    held = cache.keys()
    cache.put("d", "D")
    assert held == ["b", "c", "a"]
    assert cache.keys() == ["b", "c", "a", "d"]


# -- prune / clear / stats / repr ---------------------------------------------


def test_prune_removes_matching_entries(mod):
    cache = mod.LRUCache(10)
    for k in range(6):
        cache.put(k, k * k)
    assert cache.prune(lambda k, v: v % 2 == 1) == 3
    assert cache.keys() == [0, 2, 4]
    assert len(cache) == 3
    assert cache.prune(operator.gt) == 0


def test_prune_nothing(mod):
    cache = filled(mod, 3, "ab")
    assert cache.prune(lambda k, v: False) == 0
    assert cache.keys() == ["a", "b"]


def test_prune_predicate_error_propagates(mod):
    cache = filled(mod, 3, "ab")

    def boom(k, v):
        raise ZeroDivisionError

    with pytest.raises(ZeroDivisionError):
        cache.prune(boom)
    assert cache.keys() == ["a", "b"]


def test_prune_predicate_truth_error(mod):
    class NoBool:
        def __bool__(self):
            raise ValueError("no truth")

    cache = filled(mod, 3, "a")
    with pytest.raises(ValueError, match="no truth"):
        cache.prune(lambda k, v: NoBool())


def test_clear_keeps_stats(mod):
    cache = filled(mod, 2, "abc")
    cache.get("c")
    cache.clear()
    assert len(cache) == 0 and cache.keys() == []
    stats = cache.stats()
    assert stats["hits"] == 1 and stats["evictions"] == 1 and stats["currsize"] == 0
    cache.put("x", 1)
    assert cache.keys() == ["x"]


def test_stats_counts(mod):
    cache = filled(mod, 2, "abc")
    cache.get("b")
    cache.get("c")
    cache.get("a")
    cache.get("zz", 0)
    assert cache.stats() == {
        "hits": 2,
        "misses": 2,
        "evictions": 1,
        "maxsize": 2,
        "currsize": 2,
    }


def test_repr(mod):
    cache = filled(mod, 7, "ab")
    cache.get("a")
    cache.get("q")
    assert repr(cache) == "<LRUCache maxsize=7 currsize=2 hits=1 misses=1>"


def test_cycle_through_callback_is_collected(mod):
    import gc
    import weakref

    class Holder:
        pass

    holder = Holder()
    holder.cache = mod.LRUCache(2, on_evict=lambda k, v: holder)
    ref = weakref.ref(holder)
    del holder
    gc.collect()
    assert ref() is None


# -- tokenize -------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "Hello, World!",
        "  leading and trailing  ",
        "tabs\tand\nnewlines\r\nand (brackets) [x] {y} <z>",
        "quotes 'single' \"double\"; colon: semi; end.",
        "",
        " .,;:!? ",
        "MiXeD CaSe ÄÖÜ stays non-ASCII",
        "hyphen-ated under_score digits123",
        "nul\x00inside",
    ],
)
def test_tokenize_matches_reference(mod, text):
    assert mod.tokenize(text) == ref_tokenize(text, mod.SCRATCH_SIZE)


def test_tokenize_examples(mod):
    assert mod.tokenize("The quick, BROWN fox.") == ["the", "quick", "brown", "fox"]
    assert mod.tokenize("") == []


def test_tokenize_truncates_long_words(mod):
    limit = mod.SCRATCH_SIZE - 1
    assert mod.tokenize("A" * 1000 + " b") == ["a" * limit, "b"]
    # 2-byte characters: the cut never splits a UTF-8 sequence.
    word = mod.tokenize("é" * 300)[0]
    assert word == "é" * (limit // 2)
    assert len(word.encode()) <= limit


def test_tokenize_type_error(mod):
    with pytest.raises(TypeError, match="tokenize"):
        mod.tokenize(b"bytes")


def test_tokenize_surrogates(mod):
    with pytest.raises(UnicodeEncodeError):
        mod.tokenize("bad \udcff")


# -- join_keys -------------------------------------------------------------------


def test_join_keys_default_sep(mod):
    assert mod.join_keys([1, "a", 2.5, None]) == "1, a, 2.5, None"


def test_join_keys_sep_positional_and_keyword(mod):
    assert mod.join_keys(["x", "y"], "-") == "x-y"
    assert mod.join_keys(["x", "y"], sep="→") == "x→y"
    assert mod.join_keys(["ü"], sep="") == "ü"


def test_join_keys_empty_and_single(mod):
    assert mod.join_keys([]) == ""
    assert mod.join_keys(["only"]) == "only"


def test_join_keys_uses_str(mod):
    assert mod.join_keys([Key("k")], "|") == "Key('k')"

    class Odd:
        def __str__(self):
            return "odd"

    assert mod.join_keys([Odd(), Odd()]) == "odd, odd"


def test_join_keys_errors(mod):
    with pytest.raises(TypeError):
        mod.join_keys(("a", "b"))
    with pytest.raises(TypeError):
        mod.join_keys(["a"], 5)
    with pytest.raises(TypeError, match="sep"):
        mod.join_keys(["a"], sep=5)
    with pytest.raises(TypeError, match="sep"):
        mod.join_keys(["a"], other="x")
    with pytest.raises(TypeError, match="sep"):
        mod.join_keys(["a"], "-", sep="+")

    class BadStr:
        def __str__(self):
            raise KeyError("str failed")

    with pytest.raises(KeyError):
        mod.join_keys(["a", BadStr()])


# -- from_config -----------------------------------------------------------------


def test_from_config(mod):
    evicted = []
    cache = mod.from_config({"maxsize": 2, "on_evict": lambda k, v: evicted.append(k)})
    assert isinstance(cache, mod.LRUCache)
    assert cache.maxsize == 2
    for k in "abc":
        cache.put(k, 0)
    assert evicted == ["a"]


def test_from_config_defaults(mod):
    assert mod.from_config({}).maxsize == mod.DEFAULT_MAXSIZE
    assert mod.from_config({"on_evict": None, "other": 1}).maxsize == mod.DEFAULT_MAXSIZE


def test_from_config_index_protocol(mod):
    class Size:
        def __index__(self):
            return 4

    assert mod.from_config({"maxsize": Size()}).maxsize == 4


def test_from_config_errors(mod):
    with pytest.raises(TypeError, match="dict"):
        mod.from_config([("maxsize", 2)])
    with pytest.raises(ValueError):
        mod.from_config({"maxsize": 0})
    with pytest.raises(TypeError):
        mod.from_config({"maxsize": "3"})
    with pytest.raises(TypeError):
        mod.from_config({"on_evict": "not callable"})


# -- module counters -------------------------------------------------------------


@pytest.mark.thread_unsafe(reason="reads module-wide counters")
def test_hits_and_calls_counters(mod):
    hits, calls = mod.hits(), mod.calls()
    cache = filled(mod, 4, "ab")
    cache.get("a")
    cache.get("b")
    cache.get("missing")
    cache.peek("a")
    assert mod.hits() - hits == 2
    assert mod.calls() == calls  # cache methods are not counted
    mod.tokenize("a b")
    mod.join_keys(["a"])
    mod.from_config({})
    with pytest.raises(TypeError):
        mod.tokenize(1)  # counted too: the call happened
    assert mod.calls() - calls == 4


# -- the package -----------------------------------------------------------------


def test_package_exports_preferred_module():
    ftsample = pytest.importorskip("ftsample")
    try:
        migrated = importlib.import_module("ftsample._lru")
    except ModuleNotFoundError:
        migrated = None
    expected = migrated if migrated is not None else importlib.import_module("ftsample.legacy._lru")
    assert ftsample.MIGRATED is (migrated is not None)
    for name in ftsample.__all__:
        if name != "MIGRATED":
            assert getattr(ftsample, name) is getattr(expected, name)


def test_legacy_package_exports():
    legacy = pytest.importorskip("ftsample.legacy")
    assert sorted(legacy.__all__) == [
        "DEFAULT_MAXSIZE",
        "LRUCache",
        "SCRATCH_SIZE",
        "calls",
        "from_config",
        "hits",
        "join_keys",
        "tokenize",
    ]
