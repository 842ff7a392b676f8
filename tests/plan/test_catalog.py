"""Reading the nightly events CSV: both time forms, both coordinate forms, every bad input."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from ekos_occult.errors import CsvFormatError
from ekos_occult.plan.catalog import read_events

DATA = Path(__file__).parent.parent / "data"
HEADER = "name,ra,dec,start,duration,mag"
ROW = "star1,125.225,-6.2,2023-02-08T23:29:00,10,9.0"


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


def read(path: Path, **kwargs: bool):
    return read_events(path.read_text(encoding="utf-8"), str(path), **kwargs)


def problems_of(text: str, path: str = "night.csv") -> list[str]:
    with pytest.raises(CsvFormatError) as info:
        read_events(text, path)
    return [str(p) for p in info.value.problems]


def test_classic_format_known_values() -> None:
    cat = read(DATA / "classic.csv")
    assert [e.name for e in cat.events] == ["star1", "star2", "star3"]
    e = cat.events[0]
    assert (e.ra_deg, e.dec_deg, e.mag) == (125.225, -6.2, 9.0)
    assert e.record_start == utc(2023, 2, 8, 23, 29, 0)
    assert e.record_end == utc(2023, 2, 8, 23, 29, 10)
    assert e.central_time is None
    assert e.priority == 0 and e.exposure_s is None and e.event_duration_s is None
    assert e.line == 2 and cat.events[2].line == 4
    assert dict(e.fields) == {
        "name": "star1",
        "ra": "125.225",
        "dec": "-6.2",
        "start": "2023-02-08T23:29:00",
        "duration": "10",
        "mag": "9.0",
    }
    assert cat.invalid == () and cat.warnings == ()


def test_epoch_centres_window_and_sexagesimal_ra_is_hours() -> None:
    cat = read(DATA / "epoch_sexagesimal.csv")
    star1, trap = cat.events
    # 08h20m54.1s = (8 + 20/60 + 54.1/3600) h × 15 °/h
    assert star1.ra_deg == pytest.approx((8 + 20 / 60 + 54.1 / 3600) * 15, abs=1e-9)
    assert star1.dec_deg == pytest.approx(-6.2, abs=1e-9)
    assert star1.central_time == utc(2023, 2, 8, 23, 29, 5)
    assert star1.record_start == utc(2023, 2, 8, 23, 29, 0)
    assert star1.record_end == utc(2023, 2, 8, 23, 29, 10)
    assert (star1.priority, star1.event_duration_s) == (1, 0.9)
    assert (star1.asteroid, star1.event_id) == ("(1234) Example", "E1")
    # "-00:30:00" keeps its sign (the classic sexagesimal trap) and RA 00:30:00 is 7.5°.
    assert trap.dec_deg == pytest.approx(-0.5) and trap.ra_deg == pytest.approx(7.5)
    # An offset is converted: 00:20+01:00 is 23:20Z, and the 60 s window is centred on it.
    assert trap.central_time == utc(2023, 2, 8, 23, 20, 0)
    assert trap.record_start == utc(2023, 2, 8, 23, 19, 30)
    assert trap.priority == 0 and trap.asteroid is None
    assert star1.line == 3  # the comment line counts


def test_ra_h_decimal_hours_time_alias_and_exposure() -> None:
    (e,) = read(DATA / "ra_hours.csv").events
    assert e.ra_deg == pytest.approx(8.348361 * 15)
    assert e.central_time == utc(2023, 2, 8, 23, 29, 5)
    assert e.record_start == utc(2023, 2, 8, 23, 29, 0)
    assert e.exposure_s == 0.2


@pytest.mark.parametrize("ra_h", ["08:20:54.1", "8 20 54.1", "8h20m54.1s"])
def test_ra_h_accepts_sexagesimal(ra_h: str) -> None:
    text = f"name,ra_h,dec,start,duration,mag\ns,{ra_h},-6.2,2023-02-08T23:29:00,10,9\n"
    assert read_events(text, "x.csv").events[0].ra_deg == pytest.approx(125.2254167, abs=1e-6)


def test_bom_crlf_and_trimmed_case_insensitive_header_read_the_same() -> None:
    plain = read_events(f"{HEADER}\n{ROW}\n", "a.csv").events
    odd = read_events(f"\ufeff Name , RA ,Dec, START ,Duration,MAG\r\n{ROW}\r\n\r\n", "b.csv")
    assert [(e.name, e.ra_deg, e.record_start) for e in odd.events] == [
        (e.name, e.ra_deg, e.record_start) for e in plain
    ]


def test_blank_and_comment_lines_skipped_and_lines_counted() -> None:
    text = f"# tonight\n\n{HEADER}\n\n# a comment\n{ROW}\n"
    (e,) = read_events(text, "x.csv").events
    assert e.line == 6


def test_short_rows_leave_optional_cells_empty() -> None:
    text = "name,ra,dec,start,duration,mag,priority,exposure\n" + ROW + "\n"
    (e,) = read_events(text, "x.csv").events
    assert e.priority == 0 and e.exposure_s is None


def test_unknown_columns_one_warning_naming_them() -> None:
    cat = read(DATA / "unknown_columns.csv")
    assert len(cat.events) == 2
    assert len(cat.warnings) == 1
    assert "'observer'" in cat.warnings[0] and "'comment'" in cat.warnings[0]


def test_header_only_gives_no_events_and_a_warning() -> None:
    cat = read_events(HEADER + "\n", "x.csv")
    assert cat.events == () and "no events" in cat.warnings[0]


# --- file-level problems (always raised, even with skip_invalid) ---


@pytest.mark.parametrize("text", ["", "\n\n  \n", "\ufeff", "# only a comment\n"])
def test_empty_file(text: str) -> None:
    (msg,) = problems_of(text)
    assert msg.startswith("night.csv:1: the file is empty") and HEADER in msg


def test_no_header() -> None:
    path = DATA / "no_header.csv"
    with pytest.raises(CsvFormatError) as info:
        read(path, skip_invalid=True)
    assert str(info.value) == (
        f"{path}:1: no header line (the first line looks like data): "
        f"the first line must name the columns, e.g. '{HEADER}'"
    )


@pytest.mark.parametrize(("delimiter", "label"), [(";", "semicolons"), ("\t", "tabs")])
def test_wrong_delimiter(delimiter: str, label: str) -> None:
    text = (HEADER + "\n" + ROW + "\n").replace(",", delimiter)
    (msg,) = problems_of(text)
    assert f"separated by {label}, not commas" in msg and msg.startswith("night.csv:1: ")


def test_semicolon_file_with_skip_invalid_still_fails() -> None:
    with pytest.raises(CsvFormatError, match="semicolons"):
        read(DATA / "semicolon.csv", skip_invalid=True)


def test_missing_columns_all_listed() -> None:
    msgs = problems_of("name,ra,start\ns,1,2023-02-08T23:29:00\n")
    assert msgs == [
        f"night.csv:1: missing column 'dec' (expected a header such as '{HEADER}')",
        f"night.csv:1: missing column 'duration' (expected a header such as '{HEADER}')",
        f"night.csv:1: missing column 'mag' (expected a header such as '{HEADER}')",
    ]


def test_missing_time_and_ra_columns() -> None:
    msgs = problems_of("name,dec,duration,mag\ns,1,2,3\n")
    assert any("missing right ascension column: expected one of 'ra' or 'ra_h'" in m for m in msgs)
    assert any(
        "missing time column: expected one of 'start' or 'epoch' or 'time'" in m for m in msgs
    )


def test_start_and_epoch_both_given() -> None:
    (msg,) = problems_of("name,ra,dec,start,epoch,duration,mag\n")
    assert "columns 'start', 'epoch' all give the time: keep only one" in msg


def test_duplicate_header_column() -> None:
    (msg,) = problems_of("name,ra,dec,start,duration,mag,MAG\n")
    assert (
        msg == "night.csv:1: column 'mag': appears twice in the header: each column may be "
        "given once"
    )


# --- row problems: every one reported, with FILE:LINE: column 'x' ---


@pytest.mark.parametrize(
    ("row", "column", "fragment"),
    [
        ("s,abc,-6.2,2023-02-08T23:29:00,10,9", "ra", "'abc' is not a number"),
        ("s,360,-6.2,2023-02-08T23:29:00,10,9", "ra", "360 is outside the sky"),
        ("s,-1,-6.2,2023-02-08T23:29:00,10,9", "ra", "-1 is outside the sky"),
        ("s,08:60:00,-6.2,2023-02-08T23:29:00,10,9", "ra", "'08:60:00'"),
        ("s,24:00:00,-6.2,2023-02-08T23:29:00,10,9", "ra", "'24:00:00'"),
        ("s,12d30m,-6.2,2023-02-08T23:29:00,10,9", "ra", "gives degrees in a column of hours"),
        ("s,nan,-6.2,2023-02-08T23:29:00,10,9", "ra", "'nan' is not a finite number"),
        ("s,125,95,2023-02-08T23:29:00,10,9", "dec", "95 is outside ±90°"),
        ("s,125,-90.5,2023-02-08T23:29:00,10,9", "dec", "-90.5 is outside ±90°"),
        ("s,125,-95:00:00,2023-02-08T23:29:00,10,9", "dec", "-95:00:00 is outside ±90°"),
        ("s,125,NaN,2023-02-08T23:29:00,10,9", "dec", "'NaN' is not a finite number"),
        ("s,125,5h,2023-02-08T23:29:00,10,9", "dec", "gives hours in a column of degrees"),
        ("s,125,-6,yesterday,10,9", "start", "'yesterday' is not an ISO 8601 date and time"),
        ("s,125,-6,2023-02-08,10,9", "start", "'2023-02-08' is not an ISO 8601 date and time"),
        ("s,125,-6,2023-02-30T00:00:00,10,9", "start", "is not a valid time"),
        ("s,125,-6,1066-10-14T09:00:00,10,9", "start", "is not in the years 1900-2200"),
        ("s,125,-6,2023-02-08T23:29:00,-5,9", "duration", "-5 is not positive"),
        ("s,125,-6,2023-02-08T23:29:00,0,9", "duration", "0 is not positive"),
        ("s,125,-6,2023-02-08T23:29:00,inf,9", "duration", "'inf' is not a finite number"),
        ("s,125,-6,2023-02-08T23:29:00,90000,9", "duration", "90000 s is longer than a day"),
        ("s,125,-6,2023-02-08T23:29:00,10,NaN", "mag", "'NaN' is not a finite number"),
        ("s,125,-6,2023-02-08T23:29:00,10,bright", "mag", "'bright' is not a number"),
        ("s,125,-6,2023-02-08T23:29:00,10,", "mag", "is empty: a value is required"),
        (",125,-6,2023-02-08T23:29:00,10,9", "name", "is empty: a value is required"),
        ('"a\nb",125,-6,2023-02-08T23:29:00,10,9', "name", "contains control characters"),
    ],
)
def test_bad_cell(row: str, column: str, fragment: str) -> None:
    (msg,) = problems_of(f"{HEADER}\n{row}\n")
    assert msg.startswith(f"night.csv:2: column '{column}': "), msg
    assert fragment in msg, msg


@pytest.mark.parametrize(
    ("extra", "cells", "column", "fragment"),
    [
        ("priority", "high", "priority", "'high' is not a whole number"),
        ("priority", "1.5", "priority", "'1.5' is not a whole number"),
        ("exposure", "-0.1", "exposure", "-0.1 is not positive"),
        ("exposure", "11", "exposure", "11 s is longer than the recording (10 s)"),
        ("event_duration", "-2", "event_duration", "-2 is not positive"),
    ],
)
def test_bad_optional_cell(extra: str, cells: str, column: str, fragment: str) -> None:
    (msg,) = problems_of(f"{HEADER},{extra}\n{ROW},{cells}\n")
    assert msg.startswith(f"night.csv:2: column '{column}': ") and fragment in msg, msg


def test_too_many_fields() -> None:
    (msg,) = problems_of(f"{HEADER}\n{ROW},extra\n")
    assert msg.startswith("night.csv:2: has 7 fields but the header has only 6")


def test_duplicate_names_case_insensitive_names_first_line() -> None:
    (msg,) = problems_of(f"{HEADER}\n{ROW}\n{ROW.replace('star1', 'STAR1')}\n")
    assert msg.startswith(
        "night.csv:3: column 'name': duplicate name 'STAR1' (already used by 'star1' on line 2"
    )


def test_all_problems_reported_at_once_in_file_order() -> None:
    path = DATA / "malformed.csv"
    with pytest.raises(CsvFormatError) as info:
        read(path)
    where = [(p.line, p.column) for p in info.value.problems]
    assert where == [
        (3, "ra"),
        (4, "dec"),
        (5, "mag"),
        (6, "duration"),
        (7, "start"),
        (8, "name"),
        (9, "ra"),
        (9, "dec"),
    ]
    lines = str(info.value).splitlines()
    assert len(lines) == 8 and all(line.startswith(f"{path}:") for line in lines)
    assert lines[0] == (
        f"{path}:3: column 'ra': 'abc' is not a number: expected decimal "
        "degrees 0 to 360, or sexagesimal hours HH:MM:SS.s (e.g. 08:20:54.1)"
    )


def test_skip_invalid_keeps_valid_rows_and_lists_the_rest() -> None:
    cat = read(DATA / "malformed.csv", skip_invalid=True)
    assert [e.name for e in cat.events] == ["star1", "star9"]
    assert [(r.line, r.name) for r in cat.invalid] == [
        (3, "bad_ra"),
        (4, "bad_dec"),
        (5, "nan_mag"),
        (6, "neg_duration"),
        (7, "bad_time"),
        (8, "star1"),
        (9, "two_bad"),
    ]
    assert len(cat.invalid[-1].problems) == 2
    assert "column 'dec'" in cat.invalid[1].problems[0]


def test_record_window_from_start_is_start_plus_duration() -> None:
    (e,) = read_events(f"{HEADER}\ns,1,2,2023-02-08T23:59:55.5,9.5,9\n", "x.csv").events
    assert e.record_end - e.record_start == timedelta(seconds=9.5)
    assert e.record_end == utc(2023, 2, 9, 0, 0, 5)


def test_excel_header_with_trailing_empty_columns() -> None:
    """Excel writes 'mag,,,' (and ',,,' at the end of each row) for formatted empty columns."""
    cat = read_events(f"{HEADER},,,\r\n{ROW},,,\r\n{ROW.replace('star1', 'star2')},,\r\n", "x.csv")
    assert [e.name for e in cat.events] == ["star1", "star2"]
    assert cat.warnings == ()


def test_unnamed_middle_column_is_ignored_with_a_warning() -> None:
    cat = read_events(
        "name,,ra,dec,start,duration,mag\nstar1,junk,125.2,-6.2,2023-02-08T23:29,10,9\n", "x.csv"
    )
    assert cat.events[0].ra_deg == 125.2
    assert cat.warnings == ("x.csv:1: ignoring column(s) 2: no name in the header.",)


def test_data_under_an_unnamed_trailing_column_is_an_extra_field() -> None:
    (problem,) = problems_of(f"{HEADER},,\n{ROW},,oops\n")
    assert problem.startswith("night.csv:2: has 8 fields but the header has only 6")


@pytest.mark.parametrize(
    ("row", "fragment"),
    [
        (ROW.replace("star1", "x" * 300), "column 'name': 'xxxxxxxxxxxx"),
        (ROW + ",99999999999999999999999", "column 'priority': '99999999999999999999'... is too"),
        (ROW + ",2000000", "column 'priority': 2000000 is out of range"),
        (ROW.replace("125.225", "nan"), "column 'ra': 'nan' is not a finite number"),
        (ROW.replace("125.225", "1e400"), "column 'ra': '1e400' is not a finite number"),
        (ROW.replace(",10,", ",-10,"), "column 'duration': -10 is not positive"),
        (ROW.replace(",10,", ",inf,"), "column 'duration': 'inf' is not a finite number"),
        (ROW.replace("9.0", ""), "column 'mag': is empty"),
        (ROW.replace("2023-02-08T23:29:00", "2023-02-30T23:29"), "column 'start': '2023-02-30"),
    ],
)
def test_each_cell_is_checked_naming_file_line_column(row: str, fragment: str) -> None:
    header = HEADER + (",priority" if row.count(",") > 5 else "")
    problems = problems_of(f"{header}\n{row}\n")
    assert any(p.startswith("night.csv:2: ") and fragment in p for p in problems), problems


def test_a_cell_beyond_the_csv_field_limit_is_a_problem_not_a_crash() -> None:
    (problem,) = problems_of(f'{HEADER}\n"{"x" * 200_000}",1,2,2023-02-08T23:29,10,9\n')
    assert problem.startswith("night.csv:2: cannot be read as CSV")


@pytest.mark.parametrize(
    ("column", "value", "fragment"),
    [
        ("event_duration", "1e9", "column 'event_duration': 1e9 s is longer than a day"),
        ("exposure", "nan", "column 'exposure': 'nan' is not a finite number"),
        ("asteroid", "Cu\x07cula", "column 'asteroid': 'Cu\\x07cula' contains control"),
        ("id", "x" * 300, "column 'id': 'xxxx"),
    ],
)
def test_optional_cells_are_checked_too(column: str, value: str, fragment: str) -> None:
    problems = problems_of(f"{HEADER},{column}\n{ROW},{value}\n")
    assert any(p.startswith("night.csv:2: ") and fragment in p for p in problems), problems


@pytest.mark.parametrize(
    ("text", "line"),
    [
        (f'{HEADER}\n"unclosed,10,20,2026-12-01T20:00:00,10,9\n{ROW}\n', 2),  # takes the rest
        (f'{HEADER}\n{ROW}\n"b,10,20,2026-12-01T20:00:00,10,9', 3),  # last line, no newline
        (f'{HEADER}\n{ROW}\nb,"10,20,2026-12-01T20:00:00,10,9\n', 3),  # in a later field
    ],
)
def test_a_quote_never_closed_is_named_as_such_once(text: str, line: int) -> None:
    # From a new user's trial: it read as "'name' contains control characters" + 5 empty cells.
    assert problems_of(text) == [
        f'night.csv:{line}: a quote (") opened on this line is never closed: it runs on to the '
        "end of the file. Close the quote, or remove it"
    ]


def test_a_quoted_name_closed_on_a_later_line_is_a_line_break_in_the_name() -> None:
    (msg,) = problems_of(f'{HEADER}\n"a\nb",125,-6,2023-02-08T23:29:00,10,9\n{ROW}\n')
    assert msg.startswith("night.csv:2: column 'name': ") and "control characters" in msg
