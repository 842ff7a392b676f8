"""``ekos-occult report`` through cli.main: the real ASTRID light curve with a made-up station,
a night folder written by the fake night, and bad input (exit 2, the file or field named)."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from pathlib import Path

import pytest
from fakes import T0, FakeClock, FakeRig, JobScript, RecScript, make_plan, planned
from report_golden import PREDICTION, STATION
from synthetic import Scene, make_recording

from ekos_occult.cli import main
from ekos_occult.night.journal import Journal
from ekos_occult.night.runner import NightRunner
from ekos_occult.report.fields import parse_hms
from ekos_occult.report.iotaes import parse_iota_es
from ekos_occult.report.occultxml import parse_occult_xml

REAL = Path("/work/shared/data/lightcurves/real_astrid_monachia_20240102.csv")

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))


def _tod(text: str) -> float:
    t = datetime.fromisoformat(text)
    return t.hour * 3600 + t.minute * 60 + t.second + t.microsecond / 1e6


def test_real_astrid_light_curve_both_forms_carry_reduces_d_and_r(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["reduce", str(REAL), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    source = tmp_path / "astrid.json"
    source.write_text(json.dumps(result), encoding="utf-8")
    out = tmp_path / "reports"
    rc = main(["--config", str(STATION), "report", str(source), "--out", str(out)])
    stdout, err = capsys.readouterr()
    assert rc == 0, err
    assert "POSITIVE" in stdout
    form_file = next(out.glob("*.iota-es.txt"))
    xml_file = next(out.glob("*.occult.xml"))
    assert next(out.glob("*.png")).read_bytes()[:4] == b"\x89PNG"
    form = dict(parse_iota_es(form_file.read_text(encoding="utf-8")))
    xml = parse_occult_xml(xml_file.read_text(encoding="utf-8"))
    for edge in ("D", "R"):
        want = _tod(result[edge])
        assert abs(parse_hms(form[edge][1:]) - want) <= 0.005 + 1e-9
        assert abs(parse_hms(xml[f"Observations/Observer/{edge}"][0]) - want) <= 0.005 + 1e-9
        assert form[f"Acc_{edge}"] == f"{round(result[f'{edge}_err_s'], 2):.2f}"
    assert form["DATE"] == "2 January 2024"
    assert len(xml["Observations/Observer/LightValues"]) == result["frames"]


def _night(folder: Path) -> None:
    """A fake night: Alpha and Beta recorded, Gamma's recording fails (no file)."""
    plan = make_plan(
        planned("Alpha", 6, exposure_s=0.04),
        planned("Beta", 15),
        planned("Gamma", 30),
    )
    clock = FakeClock(T0)
    rig = FakeRig.for_plan(plan, clock)
    rig.recs["Gamma"] = RecScript(no_file=True)
    rig.jobs["Alpha"] = JobScript(offset_deg=1.5)  # recorded anyway, flagged
    journal = Journal(folder / "journal.jsonl").open()
    runner = NightRunner(
        plan,
        ekos=rig.ekos,
        recorder=rig.recorder,
        clock=clock,
        journal=journal,
        job_files=lambda ev: folder / "jobs" / f"{ev.name}.esl",
        recordings_dir=folder / "recordings",
    )
    asyncio.run(runner.run())
    alpha, beta = rig.recorder.written[0], rig.recorder.written[1]
    make_recording(alpha, Scene())  # Alpha's file is a real occultation now
    beta.unlink()  # Beta's recording went missing after the night


def test_night_folder_one_report_per_recorded_event_and_why_not(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    night = tmp_path / "night"
    night.mkdir()
    _night(night)
    (night / "events.csv").write_bytes(PREDICTION.read_bytes())  # planned from occelmnt
    rc = main(["--config", str(STATION), "report", str(night), "--format", "iota-es"])
    stdout, err = capsys.readouterr()
    assert rc == 0, err
    assert "Alpha: POSITIVE" in stdout
    assert "Beta: no report: the recording" in stdout and "is missing" in stdout
    assert "Gamma: no report: not recorded: failed" in stdout
    forms = sorted((night / "reports").glob("*.iota-es.txt"))
    assert len(forms) == 1 and len(list((night / "reports").glob("*.png"))) == 1
    form = dict(parse_iota_es(forms[0].read_text(encoding="utf-8")))
    assert form["Occultation"] == "POSITIVE"
    assert form["D"] == "D22:15:34.26" and form["R"] == "R22:15:35.88"  # the synthetic truth
    assert (form["STAR"], form["ASTEROID"]) == ("UCAC4 550-123456", "Testia")  # from events.csv
    assert form["PREDICTTIME"].startswith("14 Mar; 2024 22:")
    assert "Night: " in form["Comments"] and "1.50 deg from the star" in form["Comments"]


def test_an_undated_result_is_refused_with_the_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "r.json"
    source.write_text(
        json.dumps(
            {
                "file": "x.csv",
                "event": True,
                "D": "03:12:05.686446",
                "R": "03:12:06.665891",
                "false_event_probability": 1e-7,
                "frames": 239,
            }
        ),
        encoding="utf-8",
    )
    assert main(["report", str(source)]) == 2
    err = capsys.readouterr().err
    assert str(source) in err and "--date YYYY-MM-DD" in err


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (None, "no such file"),
        ("name,ra,dec\nVega,1,2\n", "not JSON"),
        ("[1, 2]", "not a reduce result"),
        ('{"event": "yes", "false_event_probability": 0.1}', "field 'event'"),
        (
            '{"event": true, "false_event_probability": 0.0, "D": null, "R": null, '
            '"file": "x.csv", "frames": 10}',
            "field 'D'",
        ),
        (
            '{"event": false, "false_event_probability": 0.5, "file": "x.csv", "frames": -1}',
            "field 'frames'",
        ),
    ],
)
def test_bad_result_exits_2_naming_file_and_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | None, fragment: str
) -> None:
    source = tmp_path / "result.json"
    if content is not None:
        source.write_text(content, encoding="utf-8")
    assert main(["report", str(source)]) == 2
    err = capsys.readouterr().err
    assert str(source) in err and fragment in err
    assert "Traceback" not in err
    assert not list(tmp_path.glob("*.txt")) and not list(tmp_path.glob("*.xml"))


@pytest.mark.parametrize(
    ("config", "fragment"),
    [
        ("[telescope]\ntype = 'huge'\n", "[telescope] type = 'huge'"),
        ("[telescope]\naperture_cm = -3\n", "[telescope]: aperture_cm = -3"),
        ("[observer]\nnmae = 'x'\n", "unknown setting 'nmae'"),
        ("[camera]\ntime_source = 'sundial'\n", "[camera] time_source"),
        ("[observer]\ncountry = 'Germany'\n", "[observer] country"),
        ("[station]\nlat = 'north'\nlon = 1\n", "lat = 'north'"),
        ("[station]\nlat = 1\nlon = 1\n[site]\nlat = 1\nlon = 1\n", "given twice"),
    ],
)
def test_bad_config_exits_2_naming_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], config: str, fragment: str
) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(config, encoding="utf-8")
    source = tmp_path / "r.json"
    source.write_text("{}", encoding="utf-8")
    assert main(["--config", str(cfg), "report", str(source)]) == 2
    err = capsys.readouterr().err
    assert fragment in err and str(cfg) in err


def test_not_a_night_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", str(tmp_path)]) == 2
    assert "no journal.jsonl" in capsys.readouterr().err


def test_prediction_that_does_not_match_the_recording(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["reduce", str(REAL), "--json"]) == 0
    source = tmp_path / "astrid.json"
    source.write_text(capsys.readouterr().out, encoding="utf-8")
    pred = Path(__file__).parent.parent / "data" / "report" / "prediction.xml"
    rc = main(["--config", str(STATION), "report", str(source), "--prediction", str(pred)])
    err = capsys.readouterr().err
    assert rc == 2 and f"--prediction {pred}" in err and "no event within" in err
    assert not list(tmp_path.glob("*.xml"))


@pytest.mark.parametrize(
    ("change", "note"),
    [
        ({"file": "gone.csv"}, "light curve not attached: gone.csv not found"),
        ({"D": "2024-01-02T03:12:05.600000+00:00"}, "does not give this result's D and R"),
    ],
)
def test_a_light_curve_that_cannot_be_reproduced_is_not_attached(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], change: dict[str, str], note: str
) -> None:
    assert main(["reduce", str(REAL), "--json"]) == 0
    result = json.loads(capsys.readouterr().out) | change
    source = tmp_path / "astrid.json"
    source.write_text(json.dumps(result), encoding="utf-8")
    rc = main(["--config", str(STATION), "report", str(source)])
    out, err = capsys.readouterr()
    assert rc == 0 and note in err
    assert not list(tmp_path.glob("*.png"))
    xml = parse_occult_xml(next(tmp_path.glob("*.occult.xml")).read_text(encoding="utf-8"))
    assert "Observations/Observer/LightValues" not in xml
    form = dict(parse_iota_es(next(tmp_path.glob("*.iota-es.txt")).read_text(encoding="utf-8")))
    assert abs(parse_hms(form["D"][1:]) - _tod(result["D"])) <= 0.005 + 1e-9  # the result's D
