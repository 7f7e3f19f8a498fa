"""Pure values of the ledger: ids."""

from __future__ import annotations

from points import new_id


def test_new_ids_only_grow_even_within_one_millisecond() -> None:
    ids = [new_id() for _ in range(20_000)]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    assert all(len(i) == 32 and i[12] == "7" for i in ids)  # UUIDv7 layout
