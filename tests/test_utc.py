"""The one ISO 8601 parser and formatter."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from ekos_occult.utc import format_utc, parse_utc

T = datetime(2026, 11, 21, 21, 24, 46, 123456, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-21T21:24:46.123456Z",
        "2026-11-21T21:24:46.123456z",
        "2026-11-21T21:24:46.123456",
        "2026-11-21 21:24:46.123456+00:00",
        "2026-11-21T22:24:46.123456+01:00",
        " 2026-11-21T16:24:46.123456-05:00 ",
    ],
)
def test_every_form_is_the_same_utc_instant(text: str) -> None:
    t = parse_utc(text)
    assert t == T and t.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    "text", ["", "tomorrow", "2026-13-01T00:00", "21:24:46", "9999-12-31T23:30-01:00"]
)
def test_anything_else_is_a_value_error(text: str) -> None:
    with pytest.raises(ValueError):
        parse_utc(text)


def test_format_round_trips() -> None:
    assert format_utc(T) == "2026-11-21T21:24:46.123456Z"
    assert format_utc(T.astimezone(timezone(timedelta(hours=2)))) == "2026-11-21T21:24:46.123456Z"
    assert format_utc(T.replace(tzinfo=None)) == "2026-11-21T21:24:46.123456Z"  # naive is UTC
    assert parse_utc(format_utc(T)) == T
