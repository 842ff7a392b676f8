"""Reports from reduce results: golden forms for a positive and a negative synthetic event, the
values in the forms equal the result's, every form reads back through our own parser."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from report_golden import FORMATS, NOW, PREDICTION, STATION, Made, golden_path, make

from ekos_occult.errors import ReportError
from ekos_occult.model import Site
from ekos_occult.plan.geometry import station_geometry
from ekos_occult.plan.occelmnt import read_occelmnt
from ekos_occult.report.fields import parse_dms, parse_hms
from ekos_occult.report.iotaes import check_iota_es, format_iota_es, parse_iota_es
from ekos_occult.report.occultxml import (
    LIGHT_MAX,
    check_occult_xml,
    format_occult_xml,
    parse_occult_xml,
)
from ekos_occult.report.record import Outcome, build_report
from ekos_occult.report.result import result_from_dict
from ekos_occult.settings import load_settings

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Made]:
    return {k: make(k, tmp_path_factory.mktemp(k)) for k in ("positive", "negative")}


def _utc(text: object) -> datetime:
    return datetime.fromisoformat(str(text))


def _expected_accuracy(res: dict[str, object], edge: str) -> str:
    """The 68 % bar of the fit with the timing terms reduce gives (its whole bar if it has one,
    else the stamps' uncertainty), to 0.01 s and at least 0.01 s."""
    fit = float(str(res[f"{edge}_err_s"]))
    ts = res.get("timestamps") or {}
    assert isinstance(ts, dict)
    total = ts.get(f"{edge}_err_total_s")
    if total is None:
        extra = ts.get("uncertainty_s") or (ts.get("budget") or {}).get("timestamp_s") or 0.0
        total = (fit**2 + float(extra) ** 2) ** 0.5
    return f"{max(round(float(total), 2), 0.01):.2f}"


def _tod(t: datetime) -> float:
    return t.hour * 3600 + t.minute * 60 + t.second + t.microsecond / 1e6


@pytest.mark.parametrize("kind", ["positive", "negative"])
@pytest.mark.parametrize("fmt", FORMATS)
def test_report_equals_the_golden_file(made: dict[str, Made], kind: str, fmt: str) -> None:
    want = golden_path(kind, fmt).read_text(encoding="utf-8")
    assert made[kind].texts[fmt] == want


def test_positive_iota_es_values_are_the_results(made: dict[str, Made]) -> None:
    m = made["positive"]
    res, rec = m.result, m.recording
    form = dict(parse_iota_es(m.texts["iota-es"]))
    assert form["Occultation"] == "POSITIVE"
    assert form["DATE"] == "14 March 2024"
    for edge, known in (("D", rec.d_utc), ("R", rec.r_utc)):
        t = _utc(res[edge])
        assert form[edge][0] == edge
        written = parse_hms(form[edge][1:])
        assert abs(written - _tod(t)) <= 0.005 + 1e-9  # the result's time to 0.01 s
        assert abs(written - _tod(known)) < 0.02  # and the synthetic truth
        assert form[f"Acc_{edge}"] == _expected_accuracy(res, edge)
    assert float(form["Duration"]) == pytest.approx(float(res["duration_s"]), abs=0.005)
    assert float(form["Exp_Time"]) == pytest.approx(float(res["cadence_s"]), rel=1e-3)
    assert parse_hms(form["StartObs"]) == pytest.approx(_tod(_utc(res["start_utc"])), abs=0.005)
    assert parse_hms(form["EndObs"]) == pytest.approx(_tod(_utc(res["end_utc"])), abs=0.005)
    assert float(form["Signal/Noise"]) == pytest.approx(float(res["snr"]), abs=0.05)


def test_station_and_prediction_fields(made: dict[str, Made]) -> None:
    form = dict(parse_iota_es(made["positive"].texts["iota-es"]))
    site = load_settings(STATION).site
    assert site is not None
    assert parse_dms(form["Latitude"]) == pytest.approx(site.lat_deg, abs=0.05 / 3600)
    assert parse_dms(form["Longitude"]) == pytest.approx(site.lon_deg, abs=0.05 / 3600)
    assert form["Altitude"] == "519"
    assert (form["Telescope"], form["ObservingMethod"], form["Timesource"]) == ("3", "a", "b")
    assert (form["Aperture"], form["FocalLength"]) == ("28", "280")
    assert (form["Observer1"], form["E-mail"], form["Countrycode"]) == (
        "Ada Example",
        "ada@example.org",
        "DE",
    )
    pred = read_occelmnt(PREDICTION.read_bytes(), str(PREDICTION)).predictions
    g = station_geometry(pred, site)[0]
    assert (form["STAR"], form["ASTEROID"], form["Nr"]) == ("UCAC4 550-123456", "Testia", "99001")
    assert form["PREDICTTIME"] == f"14 Mar; 2024 {g.central_time:%H:%M:%S} UT"
    assert f"{abs(g.offset_km):.1f} km {g.side}" in form["Comments"]


def test_negative_is_a_non_detection_over_the_observed_span(made: dict[str, Made]) -> None:
    m = made["negative"]
    form = dict(parse_iota_es(m.texts["iota-es"]))
    assert form["Occultation"] == "NEGATIVE"
    assert (form["D"], form["R"], form["Acc_D"], form["Duration"]) == ("M", "M", "", "")
    assert parse_hms(form["StartObs"]) == pytest.approx(
        _tod(_utc(m.result["start_utc"])), abs=0.005
    )
    assert "false-event test" in form["Comments"]  # said honestly, not a silent miss
    xml = parse_occult_xml(m.texts["occult-xml"])
    d, r = xml["Observations/Observer/D"], xml["Observations/Observer/R"]
    assert (d[1], r[1]) == ("M", "M")
    assert parse_hms(d[0]) == pytest.approx(_tod(_utc(m.result["start_utc"])), abs=0.005)
    assert parse_hms(r[0]) == pytest.approx(_tod(_utc(m.result["end_utc"])), abs=0.005)


def test_occult_xml_values_and_light_curve(made: dict[str, Made]) -> None:
    m = made["positive"]
    xml = parse_occult_xml(m.texts["occult-xml"])
    assert xml["FileVersion"] == ["2.15"]
    assert xml["Date"][:3] == ["2024", "3", "14"]
    for edge in ("D", "R"):
        f = xml[f"Observations/Observer/{edge}"]
        assert f[1] == edge
        assert abs(parse_hms(f[0]) - _tod(_utc(m.result[edge]))) <= 0.005 + 1e-9
        assert f[2] == _expected_accuracy(m.result, edge)
    ident = xml["Observations/Observer/ID"]
    assert ident[1] == "Ada Example" and ident[5] == "DE"
    assert parse_dms(ident[7]) == pytest.approx(48.1372, abs=0.05 / 3600)
    data = xml["Observations/Observer/LightData"]
    values = xml["Observations/Observer/LightValues"]
    assert int(data[7]) == len(values) == m.recording.n_frames
    assert max(int(v) for v in values) == LIGHT_MAX
    assert float(data[6]) == pytest.approx((m.recording.n_frames - 1) * 0.04, abs=1e-3)
    # the event is in the light curve: the frames inside D..R are the deep ones
    inside = [int(values[k]) for k in range(102, 139)]
    outside = [int(values[k]) for k in range(0, 90)]
    assert max(inside) < min(outside)


def test_plot_is_written(made: dict[str, Made]) -> None:
    pngs = [f for f in made["positive"].outcome.written[0].files if f.suffix == ".png"]
    assert len(pngs) == 1 and pngs[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _report(made: dict[str, Made], **changes: object):  # type: ignore[no-untyped-def]
    data = dict(made["positive"].result) | changes
    return build_report(result_from_dict(data, "r.json"), load_settings(STATION), made=NOW.date())


def test_a_form_that_does_not_read_back_is_refused(made: dict[str, Made]) -> None:
    r = _report(made)
    text = format_iota_es(r)
    check_iota_es(r, text, "ok")
    with pytest.raises(ReportError, match=r"#D: 'D22:15:34.26' was written"):
        check_iota_es(r, text.replace("#D: D22:15:34.26", "#D: D22:15:34.27"), "bad")
    with pytest.raises(ReportError, match="#Extra: .1. was read"):
        check_iota_es(r, text.replace("#Comments:", "#Extra: 1\n#Comments:"), "bad")
    xml = format_occult_xml(r)
    check_occult_xml(r, xml, "ok")
    with pytest.raises(ReportError, match="Observations/Observer/ID"):
        check_occult_xml(r, xml.replace("Ada Example", "Ada|Example"), "bad")


def test_unknowns_are_marked_never_invented(made: dict[str, Made]) -> None:
    bare = build_report(
        result_from_dict(made["positive"].result, "r.json"),
        load_settings(None),
        made=NOW.date(),
    )
    form = dict(parse_iota_es(format_iota_es(bare)))
    for key in ("STAR", "ASTEROID", "PREDICTTIME", "Observer1", "Latitude", "Telescope",
                "Aperture", "Timesource", "Camera", "Wind"):  # fmt: skip
        assert form[key] == "<fill in>", key
    assert "observer name" in bare.to_fill and "time source" in bare.to_fill
    xml = format_occult_xml(bare)
    assert "for the observer to fill in: star, asteroid" in xml
    ident = parse_occult_xml(xml)["Observations/Observer/ID"]
    assert ident[1] == "" and ident[6] == "" and ident[13] == "_"  # empty, or "_" = unstated


def test_timestamp_budget_is_in_the_accuracy_when_reduce_gives_it(made: dict[str, Made]) -> None:
    ts = {
        "source": "SER trailer, host clock (NTP)",
        "convention": "start of exposure",
        "correction_s": 0.012,
        "uncertainty_s": 0.03,
        "budget": {"clock": 0.02, "latency": 0.022},
    }
    r = _report(made, timestamps=ts)
    assert r.d is not None and r.d.fit_err_s is not None
    assert r.d.accuracy_s == pytest.approx((r.d.fit_err_s**2 + 0.03**2) ** 0.5)
    form = dict(parse_iota_es(format_iota_es(r)))
    assert form["Acc_D"] == "0.03"
    assert "SER trailer, host clock (NTP)" in form["Comments"]
    assert "included in the accuracies" in form["Comments"]
    plain = dict(parse_iota_es(format_iota_es(_report(made))))  # reduce's own budget:
    assert "host write time" in plain["Comments"]  # the clock then is unknown, and said so
    assert "the clock's error is unknown and is not" in plain["Comments"]


def test_an_event_past_midnight_keeps_counting_hours_in_occult(made: dict[str, Made]) -> None:
    r = _report(made)
    assert r.d is not None and r.r is not None and r.day is not None
    later = dataclasses.replace(
        r,
        r=dataclasses.replace(r.r, time=datetime(2024, 3, 15, 0, 0, 1, tzinfo=timezone.utc)),
        d=dataclasses.replace(r.d, time=datetime(2024, 3, 14, 23, 59, 59, tzinfo=timezone.utc)),
    )
    xml = parse_occult_xml(format_occult_xml(later))
    assert xml["Observations/Observer/R"][0] == "24  0  1.00"
    assert (later.r.time - later.d.time) == timedelta(seconds=2)


def test_the_site_everywhere_comes_from_station(tmp_path: Path) -> None:
    s = load_settings(STATION)
    assert s.site == Site(48.1372, 11.5756, 519.0)
    assert s.station.position_source == "gps"
    assert Outcome.POSITIVE.value == "positive"


def _timing_section(clock_error: float | None) -> dict[str, object]:
    """A ``timestamps`` section as reduce writes it (host-stamped INDI frames)."""
    stamps = 0.004
    total = None if clock_error is None else (0.0012**2 + stamps**2 + clock_error**2) ** 0.5
    return {
        "source": "host write time",
        "convention": "start of exposure",
        "correction_s": 0.0535,
        "why": "one exposure 0.04 s + acquisition delay 0.0135 s (CCD Simulator, measured)",
        "uncertainty_s": None if clock_error is None else (stamps**2 + clock_error**2) ** 0.5,
        "exposure_s": 0.04,
        "exposure_from": "night journal",
        "budget": {
            "timestamp_s": stamps,
            "acquisition_delay_s": 0.0135,
            "acquisition_delay_uncertainty_s": 0.003,
            "acquisition_delay_from": "measured",
            "jitter_s": 0.0026,
            "clock_error_s": clock_error,
            "clock_synchronised": clock_error is not None,
            "clock_from": "night journal" if clock_error is not None else "unknown",
            "fit_D_s": 0.0012,
            "fit_R_s": 0.0012,
        },
        "D_err_total_s": total,
        "R_err_total_s": total,
    }


def test_reduces_whole_bar_is_the_accuracy_when_the_clock_is_known(
    made: dict[str, Made],
) -> None:
    r = _report(made, timestamps=_timing_section(0.02), D_err_s=0.0012, R_err_s=0.0012)
    assert r.d is not None and r.d.accuracy_s == pytest.approx(
        (0.0012**2 + 0.004**2 + 0.02**2) ** 0.5
    )
    form = dict(parse_iota_es(format_iota_es(r)))
    assert form["Acc_D"] == form["Acc_R"] == "0.02"
    assert (
        "host write time" in form["Comments"] and "acquisition delay 0.0135 s" in form["Comments"]
    )
    assert "fit_D" not in form["Comments"]  # the fit's bar is not a timing term


def test_unknown_clock_error_is_said_and_only_the_known_terms_counted(
    made: dict[str, Made],
) -> None:
    r = _report(made, timestamps=_timing_section(None), D_err_s=0.0012, R_err_s=0.0012)
    assert r.d is not None and r.d.accuracy_s == pytest.approx((0.0012**2 + 0.004**2) ** 0.5)
    form = dict(parse_iota_es(format_iota_es(r)))
    assert "clock's error is unknown and is not" in form["Comments"]
    assert form["Acc_D"] == "0.01"


def test_the_report_package_imports_only_its_layers() -> None:
    """report/ may import the core modules, plan and reduce records: nothing above."""
    import re

    import ekos_occult.report as package

    folder = Path(package.__file__).parent
    above = re.compile(
        r"^\s*(from|import) ekos_occult\.(night|kstars|cli|app|ekosfiles|views|video)"
    )
    for module in folder.glob("*.py"):
        for number, line in enumerate(module.read_text(encoding="utf-8").splitlines(), 1):
            assert not above.match(line), f"{module.name}:{number}: {line.strip()}"


def test_dropped_frames_are_gaps_in_the_light_curve_and_said(tmp_path: Path) -> None:
    import report_golden
    from report_golden import Scene, make

    report_golden.SCENES["dropped"] = Scene(dropped=(60, 61, 62))
    try:
        m = make("dropped", tmp_path)
    finally:
        del report_golden.SCENES["dropped"]
    assert m.result["dropped_frames"] == 3
    xml = parse_occult_xml(m.texts["occult-xml"])
    values = xml["Observations/Observer/LightValues"]
    assert len(values) == 240 == int(xml["Observations/Observer/LightData"][7])  # 237 + 3 gaps
    assert [k for k, v in enumerate(values) if v == ""] == [60, 61, 62]
    form = dict(parse_iota_es(m.texts["iota-es"]))
    assert "3 dropped frames" in form["Comments"]
    assert form["D"] == "D22:15:34.26"  # D and R still the truth


def test_parsers_read_forms_filled_by_hand() -> None:
    """Forms as observers and Occult write them (padding, tabs, spaces in times), made-up values."""
    form = dict(
        parse_iota_es(
            "#IOTA-ES ASTEROIDAL OCCULTATION - REPORT FORM 2.03\n#Event\n"
            "#Occultation: POSITIVE\n#ASTEROID: Examplia                 \n"
            "#ObservingMethod: a\t\t    \n\n#D: D21:04:05.3\n#Acc_D: 0.2\n#Comments:\n"
        )
    )
    assert form == {
        "Occultation": "POSITIVE",
        "ASTEROID": "Examplia",
        "ObservingMethod": "a",
        "D": "D21:04:05.3",
        "Acc_D": "0.2",
        "Comments": "",
    }
    assert parse_hms(form["D"][1:]) == pytest.approx(21 * 3600 + 4 * 60 + 5.3)
    xml = parse_occult_xml(
        "<AsteroidOccultations><FileVersion>2.15</FileVersion><Event><Date>2025|7|4|9.1</Date>"
        "<Observations><Observer><ID>1|A N Other||0|Town|NZ|+170  5  3.2|-40  1  9.0|12| |20|2|a|a"
        "</ID><D> 9  5  3.4|D|0.1|||</D></Observer></Observations></Event></AsteroidOccultations>"
    )
    ident = xml["Observations/Observer/ID"]
    assert parse_dms(ident[6]) == pytest.approx(170 + 5 / 60 + 3.2 / 3600)
    assert parse_dms(ident[7]) == pytest.approx(-(40 + 1 / 60 + 9 / 3600))
    assert parse_hms(xml["Observations/Observer/D"][0]) == pytest.approx(9 * 3600 + 5 * 60 + 3.4)
    with pytest.raises(ReportError, match="not an IOTA-ES report form"):
        parse_iota_es("#Occultation: POSITIVE\n", "x.txt")
    with pytest.raises(ReportError, match="<Occultations>, not <AsteroidOccultations>"):
        parse_occult_xml("<Occultations/>", "x.xml")
