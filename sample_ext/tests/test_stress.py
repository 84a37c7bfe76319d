"""Thread-stress tests: many threads hammer one LRUCache and the module functions.

Every invariant here holds when each C call is atomic (as the GIL makes it)
and breaks under data races: lost counter updates, entries past maxsize,
keys list and dict out of step, words mixed up in a shared buffer, crashes.
Each test starts its own threads, so it also runs as-is under
pytest-run-parallel (``--parallel-threads=N``), which runs N copies at once;
a test that reads module-wide counters is marked thread_unsafe.
"""

import operator
import random
import threading

import pytest

from reference import ref_tokenize

pytestmark = pytest.mark.stress

THREADS = 8
OPS = 3000


def run_threads(worker, n=THREADS):
    """Run worker(index) in n threads started together; return the results."""
    barrier = threading.Barrier(n)
    results = [None] * n
    errors = []

    def body(index):
        barrier.wait()
        try:
            results[index] = worker(index)
        except BaseException as exc:  # re-raised in the calling thread
            errors.append(exc)

    threads = [threading.Thread(target=body, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return results


def value_of(key):
    return key * 7 + 1


def check_consistent(cache):
    keys = cache.keys()
    assert len(keys) == len(set(keys)) == len(cache) <= cache.maxsize
    assert cache.stats()["currsize"] == len(cache)
    for k in keys:
        assert k in cache
    return keys


def test_get_put_counts_and_bounds(mod):
    cache = mod.LRUCache(32)

    def worker(index):
        rng = random.Random(index)
        gets = 0
        for _ in range(OPS):
            k = rng.randrange(64)
            if rng.random() < 0.5:
                v = cache.get(k)
                gets += 1
                assert v is None or v == value_of(k)
            else:
                cache.put(k, value_of(k))
            assert len(cache) <= 32
        return gets

    total_gets = sum(run_threads(worker))
    stats = cache.stats()
    assert stats["hits"] + stats["misses"] == total_gets
    assert stats["hits"] > 0 and stats["misses"] > 0
    for k in check_consistent(cache):
        assert cache.peek(k) == value_of(k)


def test_eviction_accounting(mod):
    evicted = {}
    cache = mod.LRUCache(16, on_evict=evicted.__setitem__)
    per_thread = 500

    def worker(index):
        for i in range(per_thread):
            cache.put((index, i), i)

    run_threads(worker)
    kept = set(check_consistent(cache))
    assert len(kept) == 16
    assert kept.isdisjoint(evicted)
    assert kept | set(evicted) == {(t, i) for t in range(THREADS) for i in range(per_thread)}
    assert all(v == k[1] for k, v in evicted.items())
    assert cache.stats()["evictions"] == len(evicted)


def test_keys_snapshots_stay_stable(mod):
    cache = mod.LRUCache(24)

    def worker(index):
        rng = random.Random(100 + index)
        for _ in range(OPS // 3):
            held = cache.keys()
            snapshot = list(held)
            assert len(held) == len(set(held)) <= 24
            cache.put(rng.randrange(48), index)
            cache.get(rng.randrange(48))
            assert held == snapshot  # nobody refills a list we hold

    run_threads(worker)
    check_consistent(cache)


def test_prune_while_putting(mod):
    cache = mod.LRUCache(64)

    def worker(index):
        rng = random.Random(200 + index)
        removed = 0
        for _ in range(OPS // 3):
            k = rng.randrange(128)
            cache.put(k, k + rng.choice((-1, 1)))
            if index % 2 == 0:
                removed += cache.prune(operator.gt)  # drops entries with key > value
        return removed

    assert sum(run_threads(worker)) > 0
    cache.prune(operator.gt)
    for k in check_consistent(cache):
        assert cache.peek(k) == k + 1


def test_tokenize_concurrently(mod):
    def worker(index):
        rng = random.Random(300 + index)
        for i in range(OPS // 3):
            words = [f"T{index}w{i}x" + "Ab" * rng.randrange(1, 200) for _ in range(4)]
            text = rng.choice((" ", ", ", ".\n")).join(words)
            assert mod.tokenize(text) == ref_tokenize(text, mod.SCRATCH_SIZE)

    run_threads(worker)


def test_join_keys_concurrently(mod):
    shared = list(range(50))

    def worker(index):
        for i in range(OPS // 3):
            own = [index, i, f"k{index}-{i}"]
            assert mod.join_keys(own, "/") == f"{index}/{i}/k{index}-{i}"
            assert mod.join_keys(shared) == ", ".join(map(str, shared))

    run_threads(worker)


def test_from_config_concurrently(mod):
    def worker(index):
        caches = [mod.from_config({"maxsize": 1 + (index + i) % 5}) for i in range(OPS // 10)]
        for i, cache in enumerate(caches):
            cache.put(i, i)
            cache.put(i + 1, i)
            assert len(cache) == min(2, cache.maxsize)
        return len(caches)

    assert sum(run_threads(worker)) == THREADS * (OPS // 10)


def test_shared_cache_from_many_threads_repr_and_stats(mod):
    cache = mod.LRUCache(8)

    def worker(index):
        for i in range(OPS // 3):
            cache.put(i % 16, value_of(i % 16))
            stats = cache.stats()
            assert set(stats) == {"hits", "misses", "evictions", "maxsize", "currsize"}
            assert stats["maxsize"] == 8 and 0 < stats["currsize"] <= 8
            assert repr(cache).startswith("<LRUCache maxsize=8 currsize=")

    run_threads(worker)
    check_consistent(cache)


@pytest.mark.thread_unsafe(reason="checks exact deltas of module-wide counters")
def test_module_counters_exact(mod):
    hits_before, calls_before = mod.hits(), mod.calls()
    caches = [mod.LRUCache(4) for _ in range(THREADS)]
    for cache in caches:
        cache.put("k", 1)

    def worker(index):
        cache = caches[index]
        for _ in range(OPS):
            cache.get("k")
            mod.tokenize("a b")

    run_threads(worker)
    assert mod.hits() - hits_before == THREADS * OPS
    assert mod.calls() - calls_before == THREADS * OPS
    assert sum(c.stats()["hits"] for c in caches) == THREADS * OPS
