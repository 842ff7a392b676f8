"""``ekos-occult render`` through cli.main: exit codes, stdout, stderr and the files written."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from ekos_occult.app.render import render_version
from ekos_occult.cli import main
from ekos_occult.cli.render import parse_kstars_tz
from ekos_occult.errors import ConfigError

SITE = "50,10,300"
NOW = "2023-02-08T18:00:00"
CSV = """name,ra,dec,start,duration,mag
(41) Daphne,158.5,20.3,2023-02-08T21:12:40,40,10.8
star1,125.225,-6.2,2023-02-08T23:29:00,10,9.0
UCAC4 419-034507,130.1,-6.5,2023-02-08T23:35:30,12,11.2
southern star,86.0,-60.0,2023-02-09T02:00:00,20,8.5
"""


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # No user config or data folder leaks in; the default output folder lands in tmp_path.
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))


@pytest.fixture
def events(tmp_path: Path) -> Path:
    path = tmp_path / "tonight.csv"
    path.write_text(CSV, encoding="utf-8")
    return path


def run(*args: str) -> int:
    return main(["render", *args])


def files_in(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


@pytest.mark.parametrize(("version", "root_version"), [("3.6", "1.5"), ("3.7", "2.2")])
def test_render_writes_the_night(
    events: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], version: str,
    root_version: str,
) -> None:  # fmt: skip
    out = tmp_path / "night"
    rc = run(str(events), "--site", SITE, "--now", NOW, "--out", str(out),
             "--kstars-version", version)  # fmt: skip
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    assert files_in(out) == [
        "2023-02-08.esl",
        "events.csv",  # kept so that `ekos-occult run FOLDER` can carry on the night
        "sequences/(41)_Daphne_2023-02-08.esq",
        "sequences/UCAC4_419-034507_2023-02-08.esq",
        "sequences/star1_2023-02-08.esq",
    ]
    root = etree.parse(str(out / "2023-02-08.esl")).getroot()
    assert root.get("version") == root_version
    assert [j.findtext("Sequence") for j in root.iter("Job")] == [
        str(out / "sequences" / name)
        for name in ("(41)_Daphne_2023-02-08.esq", "star1_2023-02-08.esq",
                     "UCAC4_419-034507_2023-02-08.esq")
    ]  # fmt: skip
    assert f"3 Ekos job(s) for KStars {version} (start times in UTC)" in captured.out
    assert "2023-02-08T23:24:00  star1 2023-02-08" in captured.out
    assert "note: Ekos 3." in captured.out  # star1 and UCAC4 are 390 s apart
    assert "not rendered: southern star (altitude)" in captured.out
    assert captured.err == ""


def test_auto_version_renders_36_and_says_so(
    events: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(str(events), "--site", SITE, "--now", NOW, "--out", str(tmp_path / "n")) == 0
    captured = capsys.readouterr()
    assert "--kstars-version auto: render does not talk to Ekos" in captured.err
    assert "for KStars 3.6" in captured.out


def test_kstars_tz_shifts_start_times(
    events: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "n"
    args = [str(events), "--site", SITE, "--now", NOW, "--out", str(out)]
    assert run(*args, "--kstars-tz", "Europe/Berlin", "--kstars-version", "3.6") == 0
    assert "start times in CET (UTC+01:00)" in capsys.readouterr().out
    text = (out / "2023-02-08.esl").read_text(encoding="utf-8")
    assert "<Condition value='2023-02-09T00:24:00'>At</Condition>" in text


def test_rule_flags_reach_the_plan(
    events: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "n"
    rc = run(str(events), "--site", SITE, "--now", NOW, "--out", str(out), "--min-altitude", "35",
             "--lead", "120")  # fmt: skip
    assert rc == 0
    stdout = capsys.readouterr().out
    assert "1 Ekos job(s)" in stdout and "2023-02-08T21:10:40  (41) Daphne" in stdout


def test_nothing_scheduled_exits_2_and_writes_nothing(
    events: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "n"
    rc = run(str(events), "--site", SITE, "--now", "2023-02-10T00:00:00", "--out", str(out))
    assert rc == 2
    err = capsys.readouterr().err
    assert "ekos-occult render: error: Nothing to render: none of the 4 events is scheduled" in err
    assert "past" in err
    assert not out.exists()


def test_bad_csv_exits_2_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("name,ra,dec,start,duration,mag\nx,abc,95,2023-02-08T21:00:00,10,9\n")
    rc = run(str(bad), "--site", SITE, "--now", NOW, "--out", str(tmp_path / "n"))
    assert rc == 2
    err = capsys.readouterr().err
    assert f"{bad}:2" in err and "'ra'" in err
    assert not (tmp_path / "n").exists()


def test_missing_site_exits_2(events: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]):  # type: ignore[no-untyped-def]
    assert run(str(events), "--now", NOW, "--out", str(tmp_path / "n")) == 2
    assert "No observing site" in capsys.readouterr().err


def test_bad_tz_exits_2(events: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = run(str(events), "--site", SITE, "--now", NOW, "--kstars-tz", "Mars/Olympus")
    assert rc == 2
    assert "--kstars-tz: 'Mars/Olympus'" in capsys.readouterr().err


def snapshot(root: Path) -> dict[str, tuple[int, bytes]]:
    """Every entry below ``root``: its mode and (for files) bytes."""
    return {
        str(p.relative_to(root)): (p.stat().st_mode, p.read_bytes() if p.is_file() else b"")
        for p in sorted(root.rglob("*"))
    } | {".": (root.stat().st_mode, b"")}


def old_night(out: Path) -> None:
    out.mkdir()
    (out / "2023-02-08.esl").write_text("previous night file", encoding="utf-8")
    (out / "sequences").mkdir()
    (out / "sequences" / "old event.esq").write_text("old sequence", encoding="utf-8")
    (out / "events.csv").write_text("name,ra,dec,start,duration\nold,1,2,x,3\n", "utf-8")
    (out / "recordings").mkdir()
    (out / "recordings" / "old.ser").write_bytes(b"INDI-RECORDER" + bytes(300))
    (out / "journal.jsonl").write_text('{"type": "night"}\n', encoding="utf-8")


@pytest.mark.parametrize("nth", [1, 3, 4, 5])  # 3 .esq, events.csv (4th), the .esl
def test_disk_full_while_rendering_keeps_the_old_folder_byte_for_byte(
    events: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    nth: int,
) -> None:
    import errno

    import ekos_occult.files as files

    out = tmp_path / "n"
    old_night(out)
    before = snapshot(out)
    real, calls = files._write_fd, []

    def fill_up(fd: int, data: bytes) -> None:
        calls.append(data)
        if len(calls) == nth:
            raise OSError(errno.ENOSPC, "No space left on device")
        real(fd, data)

    monkeypatch.setattr(files, "_write_fd", fill_up)
    rc = run(str(events), "--site", SITE, "--now", NOW, "--out", str(out))
    assert rc == 2
    err = capsys.readouterr().err
    assert "No space left on device" in err and "Nothing was written" in err
    assert snapshot(out) == before  # the message is true: same files, bytes and modes
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no staging


def test_render_again_replaces_the_night_whole_and_keeps_recordings(
    events: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "n"
    old_night(out)
    recording = (out / "recordings" / "old.ser").read_bytes()
    assert run(str(events), "--site", SITE, "--now", NOW, "--out", str(out)) == 0
    assert (out / "events.csv").read_text(encoding="utf-8") == CSV  # the new events
    assert "old event.esq" not in files_in(out / "sequences")  # no stale sequence
    assert (out / "recordings" / "old.ser").read_bytes() == recording  # kept
    assert (out / "journal.jsonl").read_text(encoding="utf-8") == '{"type": "night"}\n'
    assert (out / "2023-02-08.esl").read_text(encoding="utf-8") != "previous night file"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_default_folder_is_per_night_under_user_data(
    events: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(str(events), "--site", SITE, "--now", NOW) == 0
    night = tmp_path / "data" / "ekos-occult" / "nights" / "2023-02-08"
    assert (night / "2023-02-08.esl").is_file()
    assert str(night) in capsys.readouterr().out


def test_config_out_dir_is_a_folder_of_nights(
    events: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "c.toml"
    config.write_text(
        f'[paths]\nout_dir = "{tmp_path / "obs"}"\n[ekos]\nprofile = "Rig"\n', encoding="utf-8"
    )
    assert main(["--config", str(config), "render", str(events), "--site", SITE,
                 "--now", NOW]) == 0  # fmt: skip
    esl = tmp_path / "obs" / "2023-02-08" / "2023-02-08.esl"
    assert "<Profile>Rig</Profile>" in esl.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("text", "hours"),
    [("UTC", 0.0), ("+02:00", 2.0), ("-5", -5.0), ("5.5", 5.5), ("UTC-03:30", -3.5),
     ("+0545", 5.75)],
)  # fmt: skip
def test_parse_kstars_tz_offsets(text: str, hours: float) -> None:
    from datetime import datetime, timezone

    offset = parse_kstars_tz(text).utcoffset(datetime(2023, 1, 1, tzinfo=timezone.utc))
    assert offset is not None and offset.total_seconds() == hours * 3600


@pytest.mark.parametrize("text", ["+15:00", "Nowhere/Land", "2 hours", "../etc"])
def test_parse_kstars_tz_rejects(text: str) -> None:
    with pytest.raises(ConfigError, match="--kstars-tz"):
        parse_kstars_tz(text)


def test_render_version() -> None:
    assert render_version("3.7") == ("3.7", None)
    assert render_version("3.6") == ("3.6", None)
    version, note = render_version("auto")
    assert version == "3.6" and note and "auto" in note
