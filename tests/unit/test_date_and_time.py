"""yang:date-and-time: one way to write it (UTC, Z), any RFC 3339 offset read."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mso.date_and_time import format_datetime, format_epoch, parse_datetime, parse_epoch


def test_event_times_are_utc_with_microseconds() -> None:
    assert format_epoch(1795314395.211903) == "2026-11-22T02:26:35.211903Z"
    assert format_epoch(0.9999996) == "1970-01-01T00:00:01.000000Z"


def test_fewer_digits_round_and_zero_digits_have_no_fraction() -> None:
    assert format_epoch(1795314395.2119, digits=3) == "2026-11-22T02:26:35.212Z"
    assert format_epoch(1795314395.7, digits=0) == "2026-11-22T02:26:36Z"


def test_a_datetime_keeps_the_precision_it_was_given() -> None:
    whole = datetime(2026, 11, 22, 2, 26, 35, tzinfo=timezone.utc)
    assert format_datetime(whole) == "2026-11-22T02:26:35Z"
    assert format_datetime(whole.replace(microsecond=5)) == "2026-11-22T02:26:35.000005Z"
    assert format_datetime(whole.replace(microsecond=5), digits=0) == "2026-11-22T02:26:35Z"


def test_offsets_are_written_in_utc() -> None:
    paris = timezone(timedelta(hours=1))
    assert format_datetime(datetime(2026, 11, 22, 3, 26, 35, tzinfo=paris)) == "2026-11-22T02:26:35Z"


def test_any_offset_is_read() -> None:
    assert parse_epoch("2026-11-22T03:26:35+01:00") == parse_epoch("2026-11-22T02:26:35Z")
    assert parse_datetime("2026-11-22T02:26:35.5Z").microsecond == 500000


@pytest.mark.parametrize("text", ["2026-11-22T02:26:35", "yesterday", "", "2026-13-01T00:00:00Z"])
def test_no_offset_or_no_date_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_datetime(text)


@given(st.integers(min_value=0, max_value=4_102_444_800_000_000))
def test_round_trip_to_the_microsecond(micros: int) -> None:
    assert round(parse_epoch(format_epoch(micros / 1e6)) * 1e6) == micros
