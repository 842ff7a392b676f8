"""``ekos-occult predictions`` and occelmnt input to plan/render/run through cli.main."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest

from ekos_occult.cli import main

REAL = Path("/work/shared/data/occelmnt/2731_Cucula_20260209.occelmnt.xml")
DATA = Path(__file__).parent.parent / "data" / "occelmnt"
PORTUGAL = "38.5,-7.1,200"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
NOW = "2026-02-09T12:00:00"


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))


def test_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["predictions", str(REAL), "--site", PORTUGAL]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    row = next(line for line in out.splitlines() if "Cucula" in line)
    for cell in (
        "20260209_4855.6",
        "11.37",
        "5.12",
        "2026-02-09 22:00:06.40",
        "+19.9 km S",
        "in path",
        "1.4 km",
        "59°/139°",
        "-47°",
        "16.06 km/s",
        "2.98/3.04/3.04 s",
        "21:59:34–22:00:38",
        "0.444 s",
    ):
        assert cell in row, cell
    assert "1 event(s): 1 in path, 1 within 1-sigma, 1 kept by the filters." in out


def test_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["predictions", str(REAL), "--site", PORTUGAL, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    (ev,) = doc["events"]
    assert ev["central_time"].startswith("2026-02-09T22:00:06.4")
    assert ev["chord_offset_km"] == pytest.approx(19.88, abs=0.01) and ev["side"] == "south"
    assert ev["in_path"] is True and ev["in_1sigma"] is True
    assert ev["mag_drop"] == 5.12 and ev["small_drop"] is False
    assert ev["file_max_duration_s"] == 3.04 and ev["check_duration_s"] == pytest.approx(3.043)
    assert ev["record_start"] < ev["central_time"] < ev["record_end"]
    assert doc["site"] == {"lat_deg": 38.5, "lon_deg": -7.1, "elevation_m": 200.0}


def test_folder_with_bad_event_warns_and_dedups(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["predictions", str(DATA), "--site", "48.15,11,500", "--json"]) == 0
    out, err = capsys.readouterr()
    ids = [e["event_id"] for e in json.loads(out)["events"]]
    assert sorted(ids) == ["20230315_200000", "20230315_200003", "20230315_300000"]
    assert "event 2 (20230315_BROKEN, line 11): <Elements> field 7 (Y)" in err
    assert "warning: 20230315_200000: in " in err


def test_filters_and_event_selection(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(
            [
                "predictions",
                str(DATA / "feed_with_bad_event.xml"),
                "--site",
                "48.15,11,500",
                "--max-offset",
                "100",
                "--event",
                "farside",
                "--json",
            ]
        )
        == 0
    )
    (ev,) = json.loads(capsys.readouterr().out)["events"]
    assert ev["name"] == "(99002) Farside" and ev["kept"] is False
    assert "--max-offset 100 km" in ev["reason"] and ev["star_alt_deg"] < 0


def test_map(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    maps = tmp_path / "maps"
    maps.mkdir()
    target = maps / "path.png"
    assert main(["predictions", str(REAL), "--site", PORTUGAL, "--map", str(target)]) == 0
    assert target.read_bytes().startswith(PNG_SIGNATURE)
    assert len(target.read_bytes()) > 20_000  # lines and labels, not an empty canvas
    assert [p.name for p in maps.iterdir()] == ["path.png"]  # no temp file left
    assert f"Wrote the path map {target}" in capsys.readouterr().err  # said, off stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--map", "x.jpg"], "--map: x.jpg must end in .png"),
        (["--map", "x.png", "--max-offset", "5000"], "--map draws one event, and 2 are selected"),
        (["--event", "nothing"], "--event 'nothing': no event ID or object name contains it"),
        (["--max-offset", "-3"], "--max-offset: -3 is out of range"),
    ],
)
def test_option_errors_exit_2(
    args: list[str],
    message: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    feed = DATA / "feed_with_bad_event.xml"
    assert main(["predictions", str(feed), "--site", "48.15,11,500", *args]) == 2
    assert message in capsys.readouterr().err
    assert list(work.iterdir()) == []


def test_bad_file_exit_2_names_event_and_element(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.xml"
    bad.write_text(REAL.read_text().replace("47.900", "big"))
    assert main(["predictions", str(bad), "--site", PORTUGAL]) == 2
    err = capsys.readouterr().err
    assert f"{bad}: event 1 (20260209_4855.6, line 2): <Object> field 3 (diameter)" in err
    assert main(["predictions", str(tmp_path / "none.xml"), "--site", PORTUGAL]) == 2
    assert "Cannot read the predictions file" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["predictions", str(empty), "--site", PORTUGAL]) == 2
    assert "holds no .xml occelmnt file" in capsys.readouterr().err


def test_no_site_is_a_config_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["predictions", str(REAL)]) == 2
    assert "site" in capsys.readouterr().err.lower()


def test_plan_json_gains_prediction_fields(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", str(REAL), "--site", PORTUGAL, "--now", NOW, "--json"]) == 0
    (ev,) = json.loads(capsys.readouterr().out)["events"]
    assert ev["status"] == "scheduled" and ev["name"] == "(2731) Cucula"
    for key in (
        "central_time",
        "chord_offset_km",
        "in_path",
        "in_1sigma",
        "shadow_speed_km_s",
        "max_duration_s",
        "mag_drop",
    ):
        assert ev[key] is not None, key
    assert ev["chord_offset_km"] == pytest.approx(19.88, abs=0.01)
    assert ev["exposure_s"] == pytest.approx(0.4436, abs=1e-4)


def test_plan_csv_json_has_the_keys_as_null(capsys: pytest.CaptureFixture[str]) -> None:
    csv = Path(__file__).parent.parent / "data" / "classic.csv"
    assert (
        main(["plan", str(csv), "--site", "48.1,11.6,520", "--now", "2023-02-08T12:00", "--json"])
        == 0
    )
    ev = json.loads(capsys.readouterr().out)["events"][0]
    assert ev["chord_offset_km"] is None and ev["in_path"] is None and ev["mag_drop"] is None


def test_plan_reads_occelmnt_from_stdin_and_filters(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    text = (DATA / "feed_with_bad_event.xml").read_text()
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(text.encode())))
    assert (
        main(
            [
                "plan",
                "-",
                "--site",
                "48.15,11,500",
                "--now",
                "2023-03-15T12:00",
                "--path-sigmas",
                "3",
                "--json",
            ]
        )
        == 0
    )
    out, err = capsys.readouterr()
    names = [e["name"] for e in json.loads(out)["events"]]
    assert names == ["(99001) Testia"]
    assert "1 of 2 predicted event(s) left out of the plan: (99002) Farside" in err
    assert "<stdin>: event 2" in err


def test_plan_bad_occelmnt_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "feed.xml"
    bad.write_text("<Occultations><Event><Star>x</Star></Event></Occultations>")
    assert main(["plan", str(bad), "--site", PORTUGAL, "--now", NOW]) == 2
    assert "event 1 (line 1): <Elements> element is missing" in capsys.readouterr().err


def test_render_occelmnt_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "feeds"
    folder.mkdir()
    shutil.copy(DATA / "synthetic_event.xml", folder)
    out = tmp_path / "night"
    assert (
        main(
            [
                "render",
                str(folder),
                "--site",
                "48.15,11,500",
                "--now",
                "2023-03-15T12:00",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    esl = next(out.glob("*.esl")).read_text()
    assert "(99001) Testia" in esl
    (esq,) = list((out / "sequences").glob("*.esq"))
    assert "Testia" in esq.name


def test_run_dry_run_keeps_prediction_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "feeds"
    folder.mkdir()
    # run uses the real clock: the synthetic event moved to 2093 (same night sky at 22 h UTC).
    text = (DATA / "synthetic_event.xml").read_text().replace(",2023,3,15,", ",2093,3,15,")
    (folder / "future.xml").write_text(text)
    code = main(
        [
            "run",
            str(folder),
            "--site",
            "48.15,11,500",
            "--dry-run",
            "--out",
            str(tmp_path / "night"),
        ]
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "(99001) Testia" in out
    assert not (tmp_path / "night").exists()  # a dry run writes nothing


def test_merged_document_reads_back_the_same_events() -> None:
    from ekos_occult.app.events import merged_occelmnt_text, read_prediction_files
    from ekos_occult.plan.occelmnt import is_occelmnt_text, read_occelmnt

    text = merged_occelmnt_text(str(DATA))
    assert is_occelmnt_text(text)  # run keeps it as events.csv: plan sniffs the content
    again = read_occelmnt(text, "events.csv").predictions
    original = read_prediction_files(str(DATA)).predictions
    assert [(p.event_id, p.elements, p.star, p.object, p.errors) for p in again] == [
        (p.event_id, p.elements, p.star, p.object, p.errors) for p in original
    ]


@pytest.mark.parametrize("command", ["plan", "render", "load", "run"])
def test_every_planning_command_plans_predictions(command: str) -> None:
    import argparse
    import importlib

    from ekos_occult.app.planning import build_plan
    from ekos_occult.cli.options import plan_options
    from ekos_occult.model import Site
    from ekos_occult.settings import Settings

    parser = argparse.ArgumentParser()
    importlib.import_module(f"ekos_occult.cli.{command}").add_arguments(parser)
    args = parser.parse_args(
        [str(DATA / "feed_with_bad_event.xml"), "--max-offset", "100", "--time-uncertainty", "2.5"]
    )
    assert (args.max_offset_km, args.path_sigmas, args.time_uncertainty_s) == (100, None, 2.5)
    args.now = "2023-03-15T12:00"  # run always plans on the real clock; fix it here
    plan = build_plan(plan_options(args), Settings(site=Site(48.15, 11.0, 500.0)))
    (event,) = plan.events
    assert event.name == "(99001) Testia" and event.event.prediction is not None
    assert event.event.prediction.time_uncertainty_s == 2.5
    assert any("(99002) Farside: the centre line passes" in w for w in plan.warnings)


def test_prediction_options_with_a_csv_warn(capsys: pytest.CaptureFixture[str]) -> None:
    csv = Path(__file__).parent.parent / "data" / "classic.csv"
    assert (
        main(
            [
                "plan",
                str(csv),
                "--site",
                "48.1,11.6,520",
                "--now",
                "2023-02-08T12:00",
                "--max-offset",
                "30",
                "--json",
            ]
        )
        == 0
    )
    assert "--max-offset only apply to occelmnt predictions: ignored for a CSV" in (
        capsys.readouterr().err
    )


def test_table_is_in_central_time_order(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    head, *events = (DATA / "feed_with_bad_event.xml").read_text().split("<Event>")
    reversed_feed = tmp_path / "reversed.xml"  # Farside (22:01) before Testia (22:00)
    reversed_feed.write_text(
        head
        + "<Event>"
        + "<Event>".join(reversed(events)).replace("</Occultations>", "")
        + "</Occultations>"
    )
    assert main(["predictions", str(reversed_feed), "--site", "48.15,11,500", "--json"]) == 0
    names = [e["name"] for e in json.loads(capsys.readouterr().out)["events"]]
    assert names == ["(99001) Testia", "(99002) Farside"]
