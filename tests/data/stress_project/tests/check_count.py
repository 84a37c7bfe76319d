import racycount


def test_bump_adds_exactly_n():
    # Passes alone; in parallel copies the other threads' bumps (and lost updates) show up.
    before = racycount.count()
    for _ in range(500000):
        racycount.bump(1)
    assert racycount.count() - before == 500000


def test_count_is_an_int():
    assert isinstance(racycount.count(), int)
