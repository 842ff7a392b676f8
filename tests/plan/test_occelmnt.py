"""Reading occelmnt XML: every field by index, old short files, bad events, unsafe XML."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from ekos_occult.errors import PredictionFormatError
from ekos_occult.plan.occelmnt import is_occelmnt_text, read_occelmnt

REAL = Path("/work/shared/data/occelmnt/2731_Cucula_20260209.occelmnt.xml")
DATA = Path(__file__).parent.parent / "data" / "occelmnt"


def read(path: Path) -> tuple:
    feed = read_occelmnt(path.read_bytes(), str(path))
    return feed.predictions, feed.warnings


def test_real_file_every_element() -> None:
    (p,), warnings = read(REAL)
    assert warnings == ()
    e = p.elements
    assert e.source == "JPL#79:2025-11-27@2026-02-09[OWC]"
    assert e.max_duration_s == 3.04
    # 21.9517108 h = 21:57:06.15888
    assert e.closest_approach == datetime(2026, 2, 9, 21, 57, 6, 158880, tzinfo=timezone.utc)
    assert (e.x, e.y, e.dx, e.dy) == (0.1241303, 0.2412790, -7.9008485, 4.0642005)
    assert (e.d2x, e.d2y, e.d3x, e.d3y) == (0.0020095, 0.0002712, 0.0000014, -0.0000004)
    assert p.earth.substellar_lon_deg == 14.0286 and p.earth.jwst is False
    s = p.star
    assert s.star_id == "J081145.33+124855.6"
    assert (s.ra_hours, s.dec_deg) == (8.19592486, 12.8154226)
    assert (s.mag_b, s.mag_v, s.mag_r) == (11.87, 11.37, 10.71)
    assert (s.apparent_ra_hours, s.apparent_dec_deg) == (8.22057671, 12.7361762)
    # Fields 11 and 12 are the magnitude drops in V and R (the help's summary line omits them).
    assert (s.mag_drop_v, s.mag_drop_r) == (5.12, 4.94)
    assert (s.drops_adjusted, s.bright_nearby, s.all_nearby) == (False, 0, 0)
    o = p.object
    assert (o.number, o.name, o.diameter_km, o.distance_au) == ("2731", "Cucula", 47.9, 2.8068)
    assert (o.mag_v, o.mag_r, o.diameter_uncertainty_km) == (16.48, 15.63, 2.6)
    r = p.errors
    assert (r.path_widths, r.major_arcsec, r.minor_arcsec, r.pa_deg) == (1.03, 0.0015, 0.0002, 91)
    assert (r.position_sigma_arcsec, r.basis, r.reliability) == (0.0016, "Known errors", 1.45)
    assert (p.event_id, p.prediction_mjd, p.index, p.line) == ("20260209_4855.6", 61020.27, 1, 2)
    assert p.asteroid == "(2731) Cucula"
    assert dict(p.raw)["Star"].startswith("J081145.33+124855.6,8.19592486")


def test_old_short_fields_take_defaults() -> None:
    (p,), _ = read(DATA / "old_short_fields.xml")
    assert (p.elements.d3x, p.elements.d3y) == (0.0, 0.0)
    assert p.star.apparent_ra_hours is None and p.star.apparent_dec_deg is None
    assert p.star.mag_drop_v is None and p.star.bright_nearby == -1
    assert p.object.mag_v is None and p.object.moon_in_planet_shadow is False
    assert p.errors.path_widths is None and p.earth.substellar_lon_deg is None
    assert p.event_id == "20230315_200000"  # derived: date + end of the star id
    assert p.prediction_mjd is None


def test_feed_with_one_bad_event_keeps_the_others() -> None:
    preds, warnings = read(DATA / "feed_with_bad_event.xml")
    assert [p.event_id for p in preds] == ["20230315_200000", "20230315_300000"]
    assert [p.index for p in preds] == [1, 3]
    (warning,) = warnings
    assert "event 2 (20230315_BROKEN, line 11)" in warning
    assert "<Elements> field 7 (Y): 'abc' is not a number" in warning


def _doc(*events: str) -> bytes:
    return (
        "<Occultations>" + "".join(f"<Event>{e}</Event>" for e in events) + "</Occultations>"
    ).encode()


GOOD = (
    "<Elements>x,2.0,2024,5,6,1.5,0.1,0.2,5.0,1.0</Elements>"
    "<Star>S1,10.0,20.0,,12.0</Star><Object>1,Ceres,8.0,900</Object><ID>ev1,1</ID>"
)


def test_minimal_event_reads() -> None:
    (p,) = read_occelmnt(_doc(GOOD), "m.xml").predictions
    assert p.elements.closest_approach == datetime(2024, 5, 6, 1, 30, tzinfo=timezone.utc)
    assert p.star.mag_b is None and p.star.mag_v == 12.0


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (
            GOOD.replace("<Elements>x,2.0,2024,5,6,1.5,0.1,0.2,5.0,1.0</Elements>", ""),
            "<Elements> element is missing",
        ),
        (
            GOOD.replace("5.0,1.0</Elements>", "5.0</Elements>"),
            "<Elements> field 9 (dY) is missing",
        ),
        (GOOD.replace("2024,5,6", "2024,13,6"), "<Elements> field 3 (month)"),
        (GOOD.replace("2024,5,6", "2024,2,30"), "<Elements> fields 2-4 (date)"),
        (GOOD.replace("5.0,1.0</Elements>", "0,0</Elements>"), "the shadow does not move"),
        (GOOD.replace("S1,10.0,20.0", "S1,25.0,20.0"), "<Star> fields 1-2 (RA, Dec)"),
        (GOOD.replace("8.0,900", "8.0,-3"), "<Object> field 3 (diameter)"),
        (GOOD.replace("8.0,900", "8.0,nan"), "<Object> field 3 (diameter): 'nan' is not a finite"),
        (GOOD.replace("<ID>ev1,1</ID>", "<ID>ev1,soon</ID>"), "<ID> field 1 (prediction MJD)"),
    ],
)
def test_bad_event_names_event_and_element(event: str, expected: str) -> None:
    with pytest.raises(PredictionFormatError) as err:
        read_occelmnt(_doc(event), "bad.xml")
    assert "bad.xml: event 1" in str(err.value)
    assert expected in str(err.value)


def test_all_events_bad_lists_every_problem() -> None:
    bad1 = GOOD.replace("0.1,0.2", "a,0.2")
    bad2 = GOOD.replace("S1,10.0", ",10.0").replace("ev1", "ev2")
    with pytest.raises(PredictionFormatError) as err:
        read_occelmnt(_doc(bad1, bad2), "f.xml")
    text = str(err.value)
    assert "event 1 (ev1, line 1)" in text and "<Elements> field 6 (X)" in text
    assert "event 2 (ev2, line 1)" in text and "<Star> field 0 (id) is missing" in text


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"<Occultations><Event>", "f.xml:1: not well-formed XML"),
        (b"<kml><Event/></kml>", "root element is <kml>, not <Occultations>"),
        (b"<Occultations></Occultations>", "no <Event>"),
        (b"name,ra,dec\n", "not well-formed XML"),
    ],
)
def test_not_an_occelmnt_file(data: bytes, expected: str) -> None:
    with pytest.raises(PredictionFormatError, match=expected):
        read_occelmnt(data, "f.xml")


def test_entities_are_not_expanded(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("S1")
    doc = (
        f'<?xml version="1.0"?><!DOCTYPE o [<!ENTITY xxe SYSTEM "file://{secret}">]>'
        + _doc(GOOD.replace("<Star>S1", "<Star>&xxe;S2")).decode()
    )
    # The entity is left unexpanded, so the Star element has no text before it: never "S1".
    with pytest.raises(PredictionFormatError, match=r"<Star> field 0 \(id\) is missing"):
        read_occelmnt(doc, "x.xml")


def test_is_occelmnt_text() -> None:
    assert is_occelmnt_text('\ufeff<?xml version="1.0"?>\n<Occultations>')
    assert is_occelmnt_text(REAL.read_text())
    assert not is_occelmnt_text("name,ra,dec\n<Occultations>")
    assert not is_occelmnt_text("<kml></kml>")


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ((",2026,2,9,", ",2026,13,9,"), "<Elements> field 3 (month): '13' is out of range"),
        ((",2026,2,9,", ",9999,2,9,"), "<Elements> field 2 (year): '9999' is out of range"),
        ((",0.1241303,", ",1e30,"), "<Elements> field 6 (X): '1e30' is out of range"),
        ((",0.1241303,", ",nan,"), "<Elements> field 6 (X): 'nan' is not a finite number"),
        (
            ("<Object>2731,Cucula,16.50,47.900,", "<Object>2731,Cucula,16.50,-47.900,"),
            "<Object> field 3 (diameter): '-47.900' is out of range",
        ),  # fmt: skip
        (
            ("<Object>2731,Cucula,16.50,47.900,2.8068,", "<Object>2731,Cucula,16.50,47.900,-2,"),
            "<Object> field 4 (distance): '-2' is out of range",
        ),  # fmt: skip
        (("<Object>2731,Cucula,", "<Object>2731,Cu&#10;cula,"), "contains a control character"),
    ],
)
def test_each_field_is_range_checked_naming_file_event_and_field(
    edit: tuple[str, str], message: str
) -> None:
    text = REAL.read_text()
    assert edit[0] in text
    with pytest.raises(PredictionFormatError) as info:
        read_occelmnt(text.replace(*edit), "feed.xml")
    assert str(info.value).startswith("feed.xml: event 1 (20260209_4855.6, line ")
    assert message in str(info.value)


def test_earth_longitudes_are_normalised() -> None:
    text = REAL.read_text()
    start = text.index("<Earth>") + len("<Earth>")
    lon = text[start:].split(",")[0]
    east = read_occelmnt(text.replace(f"<Earth>{lon},", f"<Earth>{float(lon) - 360},"), "e.xml")
    west = read_occelmnt(text, "w.xml")
    assert east.predictions[0].earth.substellar_lon_deg == pytest.approx(
        west.predictions[0].earth.substellar_lon_deg, abs=1e-9
    )
    assert -180 < east.predictions[0].earth.substellar_lon_deg <= 180
