"""``ekos-occult plan`` through cli.main: exit codes, stdout, stderr, --json, --plot."""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path

import pytest

from ekos_occult.app.planning import build_plan
from ekos_occult.cli import main
from ekos_occult.cli.options import add_plan_arguments, plan_options
from ekos_occult.errors import ConfigError, CsvFormatError
from ekos_occult.model import PlanRules, Site, SkipReason, Status
from ekos_occult.settings import Settings

DATA = Path(__file__).parent.parent / "data"
SITE = "48.1,11.6,520"  # the reference site of tests/reference/visibility_cases.json
NOW = "2023-02-08T12:00:00"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))  # no user config leaks in


def plan(*args: str) -> int:
    return main(["plan", *args])


def test_table_and_summary(capsys: pytest.CaptureFixture[str]) -> None:
    assert plan(str(DATA / "classic.csv"), "--site", SITE, "--now", NOW) == 0
    out, err = capsys.readouterr()
    assert err == ""
    lines = out.splitlines()
    row = next(line for line in lines if "star1" in line)
    for cell in (
        "scheduled",
        "2023-02-08 23:29:00–23:29:10",
        "23:24:00",
        "33.6°",
        "200.6°",
        "-56.7°",
        "0.05 s",
    ):
        assert cell in row, (cell, row)
    assert "skipped: altitude" in next(line for line in lines if "star2" in line)
    assert "skipped: sun" in next(line for line in lines if "star3" in line)
    assert lines[-1] == "1 scheduled, 2 skipped (1 sun, 1 altitude)."
    for header in (
        "Name",
        "Status",
        "Record window (UTC)",
        "Job start",
        "Alt",
        "Az",
        "Sun",
        "Exposure",
    ):
        assert header in out


def test_json_document(capsys: pytest.CaptureFixture[str]) -> None:
    assert plan(str(DATA / "classic.csv"), "--site", SITE, "--now", NOW, "--json") == 0
    out, err = capsys.readouterr()
    doc = json.loads(out)
    assert err == ""
    assert doc["site"] == {"lat_deg": 48.1, "lon_deg": 11.6, "elevation_m": 520.0}
    assert doc["now"] == "2023-02-08T12:00:00+00:00"
    star1, star2, star3 = sorted(doc["events"], key=lambda e: e["name"])
    for key in (
        "name",
        "status",
        "reason",
        "detail",
        "record_start",
        "record_end",
        "job_start",
        "exposure_s",
        "altitude_deg",
        "azimuth_deg",
        "sun_altitude_deg",
    ):
        assert key in star1
    assert (star1["status"], star1["reason"]) == ("scheduled", None)
    assert star1["record_start"] == "2023-02-08T23:29:00+00:00"
    assert star1["record_end"] == "2023-02-08T23:29:10+00:00"
    assert star1["job_start"] == "2023-02-08T23:24:00+00:00"
    assert star1["altitude_deg"] == pytest.approx(33.568, abs=0.005)
    assert star1["input"] == {
        "name": "star1",
        "ra": "125.225",
        "dec": "-6.2",
        "start": "2023-02-08T23:29:00",
        "duration": "10",
        "mag": "9.0",
    }
    assert (star2["status"], star2["reason"]) == ("skipped", "altitude")
    assert star2["exposure_s"] == 0.5  # mag 11.5
    assert (star3["status"], star3["reason"], star3["exposure_s"]) == ("skipped", "sun", 2.0)


def test_epoch_and_sexagesimal_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert plan(str(DATA / "epoch_sexagesimal.csv"), "--site", SITE, "--now", NOW, "--json") == 0
    events = {e["name"]: e for e in json.loads(capsys.readouterr().out)["events"]}
    star1 = events["star1"]
    assert star1["record_start"] == "2023-02-08T23:29:00+00:00"
    assert star1["central_time"] == "2023-02-08T23:29:05+00:00"
    assert star1["altitude_deg"] == pytest.approx(33.568, abs=0.005)
    assert star1["exposure_s"] == pytest.approx(0.05)  # 0.9/3 = 0.3 does not bite
    assert events["dec_sign_trap"]["dec_deg"] == pytest.approx(-0.5)


def test_skip_invalid_lists_invalid_rows(capsys: pytest.CaptureFixture[str]) -> None:
    path = DATA / "malformed.csv"
    assert plan(str(path), "--site", SITE, "--now", NOW, "--skip-invalid", "--json") == 0
    doc = json.loads(capsys.readouterr().out)
    statuses = [(e["name"], e["status"]) for e in doc["events"]]
    assert ("star1", "scheduled") in statuses and ("star9", "scheduled") in statuses
    invalid = [e for e in doc["events"] if e["status"] == "invalid"]
    assert [e["line"] for e in invalid] == [3, 4, 5, 6, 7, 8, 9]
    assert invalid[0]["detail"].startswith(f"{path}:3: column 'ra': 'abc' is not a number")
    assert invalid[0]["reason"] is None and invalid[0]["record_start"] is None


def test_skip_invalid_table_and_summary(capsys: pytest.CaptureFixture[str]) -> None:
    assert plan(str(DATA / "malformed.csv"), "--site", SITE, "--now", NOW, "--skip-invalid") == 0
    out = capsys.readouterr().out
    assert out.splitlines()[-1] == "2 scheduled, 0 skipped, 7 invalid."


def test_malformed_file_exit_2_all_problems_nothing_on_stdout(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    path = DATA / "malformed.csv"
    chart = tmp_path / "chart.png"
    assert plan(str(path), "--site", SITE, "--now", NOW, "--plot", str(chart)) == 2
    out, err = capsys.readouterr()
    assert out == "" and not chart.exists()
    assert err.startswith(f"ekos-occult plan: error: {path}:3: column 'ra': ")
    for fragment in (
        f"{path}:4: column 'dec': 95 is outside ±90°",
        f"{path}:5: column 'mag': 'NaN' is not a finite number",
        f"{path}:6: column 'duration': -5 is not positive",
        f"{path}:7: column 'start': 'yesterday' is not an ISO 8601",
        f"{path}:8: column 'name': duplicate name 'star1'",
        f"{path}:9: column 'ra': 400 is outside the sky",
        f"{path}:9: column 'dec': -91 is outside ±90°",
    ):
        assert fragment in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("semicolon.csv", "the columns are separated by semicolons, not commas"),
        ("no_header.csv", "no header line (the first line looks like data)"),
        ("empty.csv", "the file is empty"),
    ],
)
def test_bad_files_exit_2(name: str, fragment: str, capsys: pytest.CaptureFixture[str]) -> None:
    path = DATA / name
    assert plan(str(path), "--site", SITE, "--now", NOW) == 2
    out, err = capsys.readouterr()
    assert out == "" and f"{path}:1: {fragment}" in err


def test_bom_crlf_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "windows.csv"
    path.write_bytes(b"\xef\xbb\xbf" + (DATA / "classic.csv").read_bytes().replace(b"\n", b"\r\n"))
    assert plan(str(path), "--site", SITE, "--now", NOW) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "1 scheduled, 2 skipped (1 sun, 1 altitude)."


def test_not_utf8(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes(
        "name,ra,dec,start,duration,mag\nM\xfcller,1,2,2023-02-08T23:29:00,10,9\n".encode("latin-1")
    )
    assert plan(str(path), "--site", SITE, "--now", NOW) == 2
    assert f"{path}:2: byte 0xfc is not UTF-8 text" in capsys.readouterr().err


def test_missing_file_and_no_site_and_bad_now(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert plan(str(tmp_path / "nope.csv"), "--site", SITE, "--now", NOW) == 2
    assert "Cannot read the events file" in capsys.readouterr().err
    assert plan(str(DATA / "classic.csv"), "--now", NOW) == 2
    assert "No observing site: give --site LAT,LON[,ELEV]" in capsys.readouterr().err
    assert plan(str(DATA / "classic.csv"), "--site", SITE, "--now", "tonight") == 2
    assert "--now: 'tonight' is not an ISO 8601 time" in capsys.readouterr().err


def test_unknown_columns_warn_once_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    assert plan(str(DATA / "unknown_columns.csv"), "--site", SITE, "--now", NOW, "--json") == 0
    out, err = capsys.readouterr()
    json.loads(out)  # stdout stays pure JSON
    assert err.count("warning") == 1
    assert "ignoring unknown column(s) 'observer', 'comment'" in err


def test_rule_flags_and_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    csv = str(DATA / "classic.csv")
    assert plan(csv, "--site", SITE, "--now", NOW, "--min-altitude", "40", "--json") == 0
    events = {e["name"]: e for e in json.loads(capsys.readouterr().out)["events"]}
    assert events["star1"]["reason"] == "altitude"
    assert "limit 40°" in events["star1"]["detail"]

    config = tmp_path / "site.toml"
    config.write_text(
        "[site]\nlat = 48.1\nlon = 11.6\nelevation = 520\n"
        "[plan]\nlead_s = 60.0\nmax_sun_altitude_deg = -3.0\n",
        encoding="utf-8",
    )
    assert main(["--config", str(config), "plan", csv, "--now", NOW, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    events = {e["name"]: e for e in doc["events"]}
    assert doc["rules"]["lead_s"] == 60.0
    assert events["star1"]["job_start"] == "2023-02-08T23:28:00+00:00"
    assert events["star3"]["reason"] == "altitude"  # Sun -4.1° is now allowed
    # A flag still beats the config file.
    assert main(["--config", str(config), "plan", csv, "--now", NOW, "--lead", "30", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["rules"]["lead_s"] == 30.0


def test_now_default_is_the_clock_so_2023_events_are_past(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert plan(str(DATA / "classic.csv"), "--site", SITE) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "0 scheduled, 3 skipped (3 past)."


def test_now_with_offset(capsys: pytest.CaptureFixture[str]) -> None:
    # 00:29:05+01:00 is 23:29:05 UTC: star1 (23:29:00) is past, the others too.
    assert (
        plan(
            str(DATA / "classic.csv"),
            "--site",
            SITE,
            "--now",
            "2023-02-09T00:29:05+01:00",
            "--json",
        )
        == 0
    )
    doc = json.loads(capsys.readouterr().out)
    assert doc["now"] == "2023-02-08T23:29:05+00:00"
    assert {e["reason"] for e in doc["events"]} == {"past"}


def test_stdin(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(
        "sys.stdin", io.TextIOWrapper(io.BytesIO((DATA / "classic.csv").read_bytes()))
    )
    assert plan("-", "--site", SITE, "--now", NOW) == 0
    assert "star1" in capsys.readouterr().out


def test_plot_written_atomically(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "out").mkdir()
    chart = tmp_path / "out" / "night.png"
    assert plan(str(DATA / "classic.csv"), "--site", SITE, "--now", NOW, "--plot", str(chart)) == 0
    data = chart.read_bytes()
    assert data.startswith(PNG_SIGNATURE) and len(data) > 10_000
    assert [p.name for p in chart.parent.iterdir()] == ["night.png"]  # no temp file left
    assert f"Wrote the altitude chart {chart}" in capsys.readouterr().err  # said, off stdout


def test_plot_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    csv = str(DATA / "classic.csv")
    assert plan(csv, "--site", SITE, "--now", NOW, "--plot", str(tmp_path / "x.jpg")) == 2
    assert "must end in .png" in capsys.readouterr().err
    missing = tmp_path / "no" / "such" / "dir" / "x.png"
    assert plan(csv, "--site", SITE, "--now", NOW, "--plot", str(missing)) == 2
    out, err = capsys.readouterr()
    assert "--plot: the folder" in err and "does not exist" in err and out == ""


def test_help_says_times_are_utc(capsys: pytest.CaptureFixture[str]) -> None:
    assert plan("--help") == 0
    help_text = " ".join(capsys.readouterr().out.split())
    assert "without an offset they are UTC" in help_text
    for flag in (
        "--now",
        "--skip-invalid",
        "--site",
        "--lead",
        "--min-altitude",
        "--max-sun-altitude",
        "--json",
        "--plot",
    ):
        assert flag in help_text


def test_build_plan_reusable_by_other_commands(capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser()
    add_plan_arguments(parser)
    args = parser.parse_args([str(DATA / "unknown_columns.csv"), "--now", NOW])
    settings = Settings(site=Site(48.1, 11.6, 520.0), rules=PlanRules(lead_s=60))
    plan_ = build_plan(plan_options(args), settings)
    assert [p.name for p in plan_.scheduled] == ["star1"]
    assert plan_.events[0].reason is SkipReason.ALTITUDE  # star2 at 21:00, first by time
    assert plan_.scheduled[0].status is Status.SCHEDULED
    assert plan_.rules.lead_s == 60 and len(plan_.warnings) == 1
    assert capsys.readouterr() == ("", "")  # build_plan prints nothing itself

    with pytest.raises(ConfigError):
        build_plan(plan_options(args), Settings())
    bad = parser.parse_args([str(DATA / "malformed.csv"), "--now", NOW])
    with pytest.raises(CsvFormatError) as info:
        build_plan(plan_options(bad), settings)
    assert len(info.value.problems) == 8
    skip = parser.parse_args([str(DATA / "malformed.csv"), "--now", NOW, "--skip-invalid"])
    assert len(build_plan(plan_options(skip), settings).invalid) == 7


def test_far_future_event_planned_without_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "future.csv"
    path.write_text(
        "name,ra,dec,start,duration,mag\nfar,125.225,-6.2,2035-02-08T23:29:00,10,9\n",
        encoding="utf-8",
    )
    assert plan(str(path), "--site", SITE, "--now", "2035-02-08T12:00:00", "--json") == 0
    out, err = capsys.readouterr()
    (event,) = json.loads(out)["events"]
    # UT1 is taken as UTC for every date (≤ 0.004° of altitude): nothing special to note.
    assert err == "" and event["status"] == "scheduled" and event["notes"] == []
    assert event["altitude_deg"] == pytest.approx(33.6, abs=0.1)


def test_big_plan_table_lists_scheduled_unless_all(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """120 rows (10 before --now): the default table lists the 110 scheduled ones and says so;
    --all lists all 120; --json always holds every event."""
    rows = [
        f"ev{i:03d},125.225,-6.2,2023-02-08T23:{i // 3:02d}:{(i % 3) * 20:02d},10,9"
        for i in range(120)
    ]
    path = tmp_path / "many.csv"
    path.write_text("name,ra,dec,start,duration,mag\n" + "\n".join(rows) + "\n", encoding="utf-8")
    common = (str(path), "--site", SITE, "--now", "2023-02-08T23:03:10", "--lead", "0")
    assert plan(*common) == 0
    out = capsys.readouterr().out
    assert "ev009" not in out and "ev010" in out and "ev119" in out
    assert out.splitlines()[-1].startswith("Listed: the 110 scheduled events of 120; not listed")
    assert plan(*common, "--all") == 0
    out = capsys.readouterr().out
    assert "ev000" in out and "ev009" in out and "Listed:" not in out
    assert plan(*common, "--json") == 0
    assert len(json.loads(capsys.readouterr().out)["events"]) == 120


@pytest.mark.parametrize(
    "data",
    [
        b"\xef\xbb\xbf" + (DATA / "classic.csv").read_bytes(),  # UTF-8 with its byte-order mark
        (DATA / "classic.csv").read_text().encode("utf-16"),  # Excel "Unicode text"
    ],
)
def test_stdin_is_decoded_like_a_file(
    data: bytes, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(data)))
    assert plan("-", "--site", SITE, "--now", NOW, "--json") == 0
    doc = json.loads(capsys.readouterr().out)
    assert sorted(e["name"] for e in doc["events"]) == ["star1", "star2", "star3"]


@pytest.mark.parametrize("source", ["stdin", "file"])
def test_bad_encoding_is_named_with_its_line(
    source: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    data = b"name,ra,dec,start,duration,mag\nM\xfcnchen,1,2,2023-02-08T23:29,10,9\n"
    if source == "stdin":
        monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(data)))
        arg, name = "-", "<stdin>"
    else:
        (tmp_path / "latin1.csv").write_bytes(data)
        arg = name = str(tmp_path / "latin1.csv")
    assert plan(arg, "--site", SITE, "--now", NOW) == 2
    err = capsys.readouterr().err
    assert f"{name}:2: byte 0xfc is not UTF-8 text" in err and "Traceback" not in err


def test_longitude_0_360_gives_the_same_night_and_plan(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """359.9 east and 0.1 west are one place: same night date, same plan (was a day apart)."""
    outputs = []
    for lon in ("359.9", "-0.1"):
        site = f"51.5,{lon},20"
        assert plan(str(DATA / "classic.csv"), "--site", site, "--now", NOW, "--json") == 0
        doc = json.loads(capsys.readouterr().out)
        out = tmp_path / lon
        loose = ("--max-sun-altitude", "90", "--min-altitude", "-90")
        render = ["render", str(DATA / "classic.csv"), "--site", site, "--now", NOW]
        assert main([*render, *loose, "--out", str(out)]) == 0
        night = capsys.readouterr().out.splitlines()[0].split(":")[0]
        outputs.append((doc, night))
    assert outputs[0] == outputs[1]
    assert outputs[0][1] == "Night 2023-02-08"


@pytest.mark.parametrize("source", ["file", "stdin"])
def test_an_endless_or_huge_input_is_refused_in_bounded_memory(
    source: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """/dev/zero or a wrong file as the events: read up to the limit, then refused."""
    monkeypatch.setattr("ekos_occult.app.events.MAX_INPUT_BYTES", 1000)
    big = (DATA / "classic.csv").read_bytes() * 20
    assert len(big) > 1000
    if source == "stdin":
        monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(big)))
        arg, name = "-", "<stdin>"
    else:
        (tmp_path / "big.csv").write_bytes(big)
        arg = name = str(tmp_path / "big.csv")
    assert plan(arg, "--site", SITE, "--now", NOW) == 2
    err = capsys.readouterr().err
    assert f"error: {name}: more than 0 MB, the limit for events files" in err
