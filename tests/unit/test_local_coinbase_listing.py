"""The local exchange's listing rules: cursor walks, the limit, and the time filters."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coinswarm.exchanges.local_coinbase.errors import ApiError
from coinswarm.exchanges.local_coinbase.listing import (
    MAX_LIMIT,
    Page,
    PageRequest,
    micros,
    newest_first,
)


def walk(entries: list[tuple[int, str]], size: int) -> list[Page[str]]:
    """Follow the cursor from the first page to the last, as a client does."""
    found = [newest_first(entries, PageRequest.parse(None, size))]
    while found[-1].has_next:
        found.append(newest_first(entries, PageRequest.parse(found[-1].cursor, size)))
        assert len(found) <= len(entries), "the walk does not end"
    return found


# Positions of the items a filter kept: increasing, with gaps where it dropped some.
kept = st.lists(st.integers(0, 400), unique=True).map(sorted)


@given(positions=kept, size=st.integers(1, 30))
def test_a_walk_returns_every_item_once_newest_first(positions: list[int], size: int) -> None:
    entries = [(p, f"item-{p}") for p in positions]
    pages = walk(entries, size)
    listed = [item for page in pages for item in page.items]
    assert listed == [item for _, item in reversed(entries)]
    assert all(len(page.items) == size for page in pages[:-1])
    assert 0 < len(pages[-1].items) <= size or not entries
    assert pages[-1].cursor == ""


@given(positions=kept, size=st.integers(1, 30), added=st.integers(1, 20), at=st.integers(0, 5))
def test_items_added_during_a_walk_do_not_shift_it(
    positions: list[int], size: int, added: int, at: int
) -> None:
    entries = [(p, f"old-{p}") for p in positions]
    pages = [newest_first(entries, PageRequest.parse(None, size))]
    for _ in range(at):
        if pages[-1].has_next:
            pages.append(newest_first(entries, PageRequest.parse(pages[-1].cursor, size)))
    # Newer items land after every existing position, as fills and orders do.
    top = (positions[-1] + 1) if positions else 0
    grown = entries + [(top + n, f"new-{n}") for n in range(added)]
    while pages[-1].has_next:
        pages.append(newest_first(grown, PageRequest.parse(pages[-1].cursor, size)))
        assert len(pages) <= len(grown), "the walk does not end"
    listed = [item for page in pages for item in page.items]
    assert listed == [item for _, item in reversed(entries)]


def test_the_limit_is_cut_to_the_cap_and_defaults_to_it() -> None:
    assert PageRequest.parse(None, 5000).size == MAX_LIMIT
    assert PageRequest.parse(None, None).size == MAX_LIMIT
    assert PageRequest.parse("17", 3) == PageRequest(17, 3)


@pytest.mark.parametrize(
    ("cursor", "limit", "field"),
    [(None, 0, "limit"), (None, -5, "limit"), ("abc", 10, "cursor"), ("-3", 10, "cursor")],
)
def test_a_page_no_one_could_ask_for_is_a_400(cursor: str | None, limit: int, field: str) -> None:
    with pytest.raises(ApiError) as refused:
        PageRequest.parse(cursor, limit)
    assert refused.value.status == 400
    assert refused.value.body.error == "INVALID_ARGUMENT"
    assert refused.value.body.message.startswith(f"{field}: expected")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2023-11-14T22:13:20Z", 1_700_000_000_000_000),
        ("2023-11-14T22:13:20.000Z", 1_700_000_000_000_000),  # ccxt's milliseconds
        ("2023-11-14T22:13:20.123456Z", 1_700_000_000_123_456),
        ("2023-11-14T22:13:20.123456789Z", 1_700_000_000_123_456),  # beyond micros: cut
        ("2023-11-14T23:13:20.5+01:00", 1_700_000_000_500_000),
        ("1970-01-01T00:00:00.000Z", 0),
    ],
)
def test_rfc3339_times_are_read_to_the_microsecond(text: str, expected: int) -> None:
    assert micros(text, "start_date") == expected


@pytest.mark.parametrize("text", ["yesterday", "2023-11-14", "2023-13-14T00:00:00Z", "1700000000"])
def test_a_time_that_does_not_parse_is_a_400_naming_the_parameter(text: str) -> None:
    with pytest.raises(ApiError) as refused:
        micros(text, "start_sequence_timestamp")
    assert refused.value.status == 400
    assert "start_sequence_timestamp" in refused.value.body.message
