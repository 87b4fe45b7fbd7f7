"""The identity cache of per-certificate facts: one result per object, bounded, errors not kept."""

from __future__ import annotations

import pytest

from gateway.signatures.per_object import per_object


class Thing:
    """Equal to every other Thing: only identity may tell two apart."""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Thing)

    def __hash__(self) -> int:
        return 0


def test_one_result_per_object_not_per_equal_value() -> None:
    calls: list[Thing] = []

    @per_object(maxsize=8)
    def fact(thing: Thing) -> int:
        calls.append(thing)
        return len(calls)

    a, b = Thing(), Thing()
    assert (fact(a), fact(a), fact(b), fact(b)) == (1, 1, 2, 2)
    assert calls == [a, b] and calls[0] is a and calls[1] is b


def test_the_oldest_entry_makes_room_and_errors_are_not_kept() -> None:
    calls = 0

    @per_object(maxsize=2)
    def fact(thing: Thing | None) -> int:
        nonlocal calls
        calls += 1
        if thing is None:
            raise ValueError("no thing")
        return calls

    first, second, third = Thing(), Thing(), Thing()
    for thing in (first, second, third):  # the third evicts the first
        fact(thing)
    assert (fact(second), fact(third)) == (2, 3)
    assert fact(first) == 4
    for expected in (5, 6):
        with pytest.raises(ValueError):
            fact(None)
        assert calls == expected
