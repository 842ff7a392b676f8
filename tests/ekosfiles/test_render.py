"""Rendering .esl/.esq for KStars 3.6 and 3.7+, escaping, and the parse-back check."""

from __future__ import annotations

import dataclasses
import math
from datetime import timedelta, timezone
from pathlib import PurePosixPath
from zoneinfo import ZoneInfo

import jinja2
import pytest
from lxml import etree

from ekos_occult.ekosfiles.formats import FORMATS
from ekos_occult.ekosfiles.render import (
    lilxml_escape,
    render_night,
    render_single_job,
    template_environment,
)
from ekos_occult.ekosfiles.render_check import check_rendered, is_valid_rendered
from ekos_occult.ekosfiles.rendered import RenderedNight
from ekos_occult.errors import RenderError
from ekos_occult.model import Status
from ekos_occult.settings import CaptureSettings, EkosSettings, Settings
from tests.render_helpers import NIGHT_DIR, make_plan, planned, three_event_plan

SETTINGS = Settings()


def parse(text: str) -> etree._Element:
    return etree.fromstring(text.encode("utf-8"))


def render(version: str = "3.6", plan=None, settings: Settings = SETTINGS, **kw) -> RenderedNight:  # type: ignore[no-untyped-def]
    return render_night(
        plan or three_event_plan(), settings, version=version, night_dir=NIGHT_DIR, **kw
    )


def children(node: etree._Element, path: str) -> list[str]:
    found = node.find(path)
    assert found is not None, path
    return [child.tag for child in found]


def esl_jobs(rendered: RenderedNight) -> list[etree._Element]:
    return parse(rendered.schedule.text).findall("Job")


# ---------------------------------------------------------------- both formats


@pytest.mark.parametrize(
    ("version", "esl_version", "esq_version"), [("3.6", "1.5", "2.4"), ("3.7", "2.2", "2.6")]
)
def test_root_and_layout(version: str, esl_version: str, esq_version: str) -> None:
    r = render(version)
    root = parse(r.schedule.text)
    assert (root.tag, root.get("version")) == ("SchedulerList", esl_version)
    assert root.findtext("Profile") == "Simulators"
    assert r.night == "2023-02-08"
    assert r.schedule.relpath == PurePosixPath("2023-02-08.esl")
    assert [str(f.relpath) for f in r.sequences] == [
        "sequences/star1_2023-02-08.esq",
        "sequences/(41)_Daphne_2023-02-09.esq",
        "sequences/TYC_1234-01102-1_2023-02-09.esq",
    ]
    assert r.files[-1] is r.schedule  # written last
    for f in r.sequences:
        seq = parse(f.text)
        assert (seq.tag, seq.get("version")) == ("SequenceQueue", esq_version)
        assert len(seq.findall("Job")) == 1


@pytest.mark.parametrize("version", FORMATS)
def test_one_job_per_scheduled_event_with_plan_values(version: str) -> None:
    r = render(version)
    jobs = esl_jobs(r)
    assert [j.findtext("Name") for j in jobs] == [
        "star1 2023-02-08",
        "(41) Daphne 2023-02-09",
        "TYC 1234-01102-1 2023-02-09",
    ]
    ra = [float(j.findtext("Coordinates/J2000RA") or "nan") for j in jobs]
    dec = [float(j.findtext("Coordinates/J2000DE") or "nan") for j in jobs]
    assert ra == pytest.approx([125.225 / 15, 200.5 / 15, 359.5 / 15], abs=1e-8)
    assert dec == pytest.approx([-6.2, 10.25, 45.0], abs=1e-7)
    starts = [j.find("StartupCondition/Condition") for j in jobs]
    assert [(c.text, c.get("value")) for c in starts if c is not None] == [
        ("At", "2023-02-08T23:24:00"),
        ("At", "2023-02-09T00:25:00"),
        ("At", "2023-02-09T01:40:30"),
    ]
    assert [j.findtext("Sequence") for j in jobs] == [
        str(NIGHT_DIR / f.relpath) for f in r.sequences
    ]
    for j in jobs:
        assert j.findtext("CompletionCondition/Condition") == "Sequence"
        assert [s.text for s in j.iterfind("Steps/Step")] == ["Track", "Align"]
        assert j.findtext("PositionAngle") == "-181"
        assert children(j, "Constraints") == []


def test_every_job_has_every_element_36() -> None:
    # KStars 3.6 parses jobs through its GUI: an omitted element inherits the previous value.
    expected = [
        "Name", "Priority", "Coordinates", "Sequence", "PositionAngle", "StartupCondition",
        "Constraints", "CompletionCondition", "Steps",
    ]  # fmt: skip
    for job in esl_jobs(render("3.6")):
        assert [c.tag for c in job] == expected
        assert job.findtext("Priority") == "10"
    root = parse(render("3.6").schedule.text)
    assert root.find("SchedulerAlgorithm").get("value") == "0"  # type: ignore[union-attr]
    assert children(root, "StartupProcedure") == []
    assert children(root, "ShutdownProcedure") == []


def test_newest_format_specifics_37() -> None:
    r = render("3.7")
    for job in esl_jobs(r):
        assert job[0].tag == "JobType" and job[0].get("lead") == "true"
        assert job.find("Priority") is None
        assert job.findtext("Group") == ""
    root = parse(r.schedule.text)
    assert root.find("SchedulerAlgorithm").get("value") == "1"  # type: ignore[union-attr]
    assert root.find("StartupProcedure").get("enabled") == "false"  # type: ignore[union-attr]
    assert root.find("ShutdownProcedure").get("enabled") == "false"  # type: ignore[union-attr]
    seq = parse(r.sequences[0].text)
    assert seq.find("HFRCheck") is not None and seq.find("Autofocus") is None
    job = seq.find("Job")
    assert job is not None
    assert job.findtext("TargetName") == "star1 2023-02-08"
    assert job.findtext("PlaceholderFormat") == "/%t/%T/%F/%t_%T_%F"
    assert job.find("Prefix") is None


@pytest.mark.parametrize("version", FORMATS)
def test_control_frame_sequence(version: str) -> None:
    r = render(version)
    job = parse(r.sequences[1].text).find("Job")
    assert job is not None
    assert job.findtext("Exposure") == "1"
    assert job.findtext("Type") == "Light"
    assert job.findtext("Count") == "1"
    assert job.findtext("Delay") == "0"
    assert job.findtext("FITSDirectory") == str(NIGHT_DIR / "captures" / "(41)_Daphne_2023-02-09")
    assert job.find("Filter") is None
    assert children(job, "Properties") == []
    # Full frame: KStars 3.6 clamps an oversize W/H to the sensor (0 would mean 1x1 pixels);
    # KStars 3.7+ reads 0x0 as "no ROI".
    full = ["0", "0", "100000", "100000"] if version == "3.6" else ["0", "0", "0", "0"]
    assert [job.findtext(f"Frame/{k}") for k in "XYWH"] == full


@pytest.mark.parametrize("version", FORMATS)
def test_capture_settings_reach_the_sequence(version: str) -> None:
    settings = Settings(
        capture=CaptureSettings(
            exposure_s=0.25, binning=2, frame=(10, 20, 640, 480), gain=139.5, filter="Red"
        ),
        ekos=EkosSettings(profile="My Rig & Co", steps=("Track", "Guide", "Focus")),
    )
    r = render(version, settings=settings, capture_root=PurePosixPath("/data/caps"))
    job = parse(r.sequences[0].text).find("Job")
    assert job is not None
    assert job.findtext("Exposure") == "0.25"
    assert (job.findtext("Binning/X"), job.findtext("Binning/Y")) == ("2", "2")
    assert [job.findtext(f"Frame/{k}") for k in "XYWH"] == ["10", "20", "640", "480"]
    assert job.findtext("Filter") == "Red"
    gains = {
        (v.get("name"), e.get("name"), e.text) for v in job.iterfind("Properties/*") for e in v
    }
    assert gains == {("CCD_GAIN", "GAIN", "139.5"), ("CCD_CONTROLS", "Gain", "139.5")}
    assert job.findtext("FITSDirectory") == "/data/caps/star1_2023-02-08"
    root = parse(r.schedule.text)
    assert root.findtext("Profile") == "My Rig & Co"
    assert [s.text for s in root.iterfind("Job/Steps/Step")][:3] == ["Track", "Focus", "Guide"]


def test_invalid_frame_is_rejected() -> None:
    settings = Settings(capture=CaptureSettings(frame=(0, 0, 0, 480)))
    with pytest.raises(RenderError, match="frame"):
        render(settings=settings)


# ---------------------------------------------------------------- times


def test_start_at_is_naive_kstars_local_time_fixed_offset() -> None:
    r = render(tz=timezone(timedelta(hours=-5)))
    first = esl_jobs(r)[0].find("StartupCondition/Condition")
    assert first is not None and first.get("value") == "2023-02-08T18:24:00"
    assert r.tz_label == "UTC-05:00"


def test_start_at_follows_zone_rules() -> None:
    summer = make_plan(planned("s", 10.0, 10.0, "2023-07-01T22:00:00"))
    winter = make_plan(planned("w", 10.0, 10.0, "2023-01-01T22:00:00"))
    berlin = ZoneInfo("Europe/Berlin")
    assert render(plan=summer, tz=berlin).jobs[0].start_at == "2023-07-01T23:55:00"
    assert render(plan=winter, tz=berlin).jobs[0].start_at == "2023-01-01T22:55:00"
    assert "CEST" in render(plan=summer, tz=berlin).tz_label


def test_fractional_seconds_are_dropped_not_rounded_up() -> None:
    plan = make_plan(planned("s", 10.0, 10.0, "2023-02-08T22:00:00.900"))
    assert render(plan=plan).jobs[0].start_at == "2023-02-08T21:55:00"


# ---------------------------------------------------------------- names and escaping

NASTY = [
    "<script>",
    "A & B",
    'O\'Brien "quoted"',
    "../../etc/passwd",
    "Ünïcødé ☃ 小惑星",
    "ctrl\x07\x1b[0mchars\u202e",
    "a/b",
    "a_b",
    "A\\B",
]


@pytest.mark.parametrize("version", FORMATS)
def test_nasty_names_escape_and_sanitise(version: str) -> None:
    events = [
        planned(name, 10.0 * i, 5.0, f"2023-02-08T2{i // 5}:{(i % 5) * 11:02d}:00")
        for i, name in enumerate(NASTY)
    ]
    r = render(version, plan=make_plan(*events))
    names = [j.findtext("Name") for j in esl_jobs(r)]
    assert names == [job.name for job in r.jobs]
    assert len({n.casefold() for n in names if n}) == len(NASTY)
    assert "&amp;" in r.schedule.text and "&apos;" in r.schedule.text
    assert "&#" not in r.schedule.text  # Ekos' parser (lilxml) cannot decode numeric entities
    for job in r.jobs:
        for part in (job.name, job.stem):
            assert PurePosixPath(part).parts == (part,) and part not in (".", "..")
            assert "\\" not in part
            assert all(ch.isprintable() for ch in part)
        assert job.sequence_path.parent == NIGHT_DIR / "sequences"
        assert job.capture_dir.parent == NIGHT_DIR / "captures"
    by_raw = {job.event.name: job.name for job in r.jobs}
    assert by_raw["<script>"] == "_script_ 2023-02-08"
    assert by_raw["Ünïcødé ☃ 小惑星"] == "Ünïcødé ☃ 小惑星 2023-02-08"
    assert by_raw["ctrl\x07\x1b[0mchars\u202e"] == "ctrl[0mchars 2023-02-08"


def test_lilxml_escape_uses_named_entities_only() -> None:
    assert lilxml_escape("<a & 'b' \"c\">") == "&lt;a &amp; &apos;b&apos; &quot;c&quot;&gt;"
    assert lilxml_escape(1.5) == "1.5"


def test_night_dir_with_special_characters_is_escaped() -> None:
    r = render_night(
        three_event_plan(), SETTINGS, version="3.6", night_dir=PurePosixPath("/data/Tom & Jerry's")
    )
    assert esl_jobs(r)[0].findtext("Sequence") == (
        "/data/Tom & Jerry's/sequences/star1_2023-02-08.esq"
    )


# ---------------------------------------------------------------- validation


def test_coordinates_must_be_finite() -> None:
    plan = make_plan(planned("bad", math.nan, 10.0, "2023-02-08T22:00:00", line=7))
    with pytest.raises(RenderError, match=r"'bad' \(line 7\).*finite"):
        render(plan=plan)


def test_ra_wraps_into_0_to_24_hours() -> None:
    plan = make_plan(planned("wrap", 359.9999999999, 1.0, "2023-02-08T22:00:00"))
    assert esl_jobs(render(plan=plan))[0].findtext("Coordinates/J2000RA") == "0.00000000"
    plan = make_plan(planned("neg", -15.0, 1.0, "2023-02-08T22:00:00"))
    assert esl_jobs(render(plan=plan))[0].findtext("Coordinates/J2000RA") == "23.00000000"


def test_nothing_scheduled_is_a_clear_error() -> None:
    plan = make_plan(planned("low", 10.0, 1.0, "2023-02-08T22:00:00", status=Status.SKIPPED))
    with pytest.raises(RenderError, match=r"none of the 1 events is scheduled \(skipped: altitude"):
        render(plan=plan)


def test_relative_night_dir_is_rejected() -> None:
    with pytest.raises(RenderError, match="absolute"):
        render_night(three_event_plan(), SETTINGS, version="3.6", night_dir=PurePosixPath("x"))


def _env_with(name: str, replace: tuple[str, str]) -> jinja2.Environment:
    """The real templates, one of them edited to break it."""
    real = template_environment()
    assert real.loader is not None
    sources = {n: real.loader.get_source(real, n)[0] for n in real.list_templates()}
    assert replace[0] in sources[name], replace[0]
    sources[name] = sources[name].replace(*replace)
    return template_environment(jinja2.DictLoader(sources))


BROKEN = [
    ("scheduler-3.6.esl.j2", ("{{ job.name }}", "{{ job.nmae }}"), "could not be rendered.*nmae"),
    ("scheduler-3.6.esl.j2", ("{{ profile }}", "{{ profiel }}"), "could not be rendered.*profiel"),
    ("scheduler-3.6.esl.j2", ("</Name>", "</Nmae>"), "not well-formed"),
    ("scheduler-3.6.esl.j2", ("{{ job.ra_hours }}", "12.5"), "do not match the plan"),
    ("scheduler-3.6.esl.j2", ("{{ job.dec_deg }}", "abc"), "not a number"),
    ("scheduler-3.6.esl.j2", ("<Priority>{{ job.priority }}</Priority>\n", ""), "Priority"),
    ("scheduler-3.6.esl.j2", ("{{ job.start_at }}", "2023-02-08T22:00:00Z"), "start condition"),
    ("scheduler-3.6.esl.j2", ("{% for job in jobs %}", "{% for job in jobs[:1] %}"), "jobs"),
    ("scheduler-3.6.esl.j2", ("{{ job.name }}", "{{ job.name|e }}"), "numeric character"),
    ("scheduler-3.7.esl.j2", ("<JobType lead='true'/>", "<JobType lead='false'/>"), "lead"),
    ("scheduler-3.7.esl.j2", ("{{ job.sequence }}", "/tmp/x.esq"), "Sequence"),
    ("sequence-3.6.esq.j2", ("{{ frame.exposure }}", "10"), "exposure"),
    ("sequence-3.6.esq.j2", ("<Type>Light</Type>", "<Type>Dark</Type>"), "frame type"),
    ("sequence-3.6.esq.j2", ("<W>{{ frame.w }}</W>", "<W>0</W>"), "width and height"),
    ("sequence-3.7.esq.j2", ("<Job>", "<Comment>x</Comment>\n<Job>"), "unexpected top-level"),
    ("sequence-3.7.esq.j2", ("{{ job.capture_dir }}", "/tmp"), "FITSDirectory"),
]


@pytest.mark.parametrize(("template", "edit", "message"), BROKEN)
def test_broken_template_is_caught_before_writing(
    template: str, edit: tuple[str, str], message: str
) -> None:
    version = template.split("-")[1][:3]
    if edit[1].endswith("|e }}"):  # a name that MarkupSafe escapes numerically
        plan = make_plan(planned("O'Brien", 10.0, 1.0, "2023-02-08T22:00:00"))
    else:
        plan = three_event_plan()
    with pytest.raises(RenderError, match=message):
        render(version, plan=plan, env=_env_with(template, edit))


def test_check_rendered_catches_tampering() -> None:
    r = render("3.7")
    assert is_valid_rendered(r, SETTINGS)
    tampered = dataclasses.replace(
        r,
        schedule=dataclasses.replace(
            r.schedule, text=r.schedule.text.replace("star1 2023-02-08", "star2")
        ),
    )
    assert not is_valid_rendered(tampered, SETTINGS)
    with pytest.raises(RenderError, match="Name"):
        check_rendered(tampered, SETTINGS)
    other_profile = Settings(ekos=EkosSettings(profile="Other"))
    with pytest.raises(RenderError, match="Profile"):
        check_rendered(r, other_profile)


# ---------------------------------------------------------------- Ekos spacing rules


def _spaced(minutes: float) -> tuple[str, str]:
    a = planned("A", 10.0, 1.0, "2023-02-08T22:00:00")
    start = a.event.record_start + timedelta(minutes=minutes)
    b = planned("B", 20.0, 1.0, start.strftime("%Y-%m-%dT%H:%M:%S"))
    r36 = render("3.6", plan=make_plan(a, b))
    r37 = render("3.7", plan=make_plan(a, b))
    notes36 = {e.name: e.notes for e in r36.plan.events}
    notes37 = {e.name: e.notes for e in r37.plan.events}
    assert notes36["A"] == () and notes37["B"] == ()
    return " ".join(notes36["B"]), " ".join(notes37["A"])


def test_spacing_notes_when_jobs_are_too_close() -> None:
    # Track + Align: 1 s + 30 s + 60 s estimated, + 300 s lead time = 391 s.
    n36, n37 = _spaced(6)
    assert "Ekos 3.6 will mark job 'B 2023-02-08' invalid" in n36 and "360 s" in n36
    assert "Ekos 3.7+ will start job 'A 2023-02-08' late" in n37


def test_spacing_thresholds_per_version() -> None:
    assert _spaced(6.6) == ("", "Ekos 3.7+ will start job 'A 2023-02-08' late: 'B 2023-02-08' "
                            "starts 396 s later (under 10 min) and runs first. Use `ekos-occult "
                            "run` (one job at a time) to observe both.")  # fmt: skip
    assert _spaced(10) == ("", "")


def test_spacing_estimate_counts_steps() -> None:
    all_steps = Settings(ekos=EkosSettings(steps=("Track", "Focus", "Align", "Guide")))
    a = planned("A", 10.0, 1.0, "2023-02-08T22:00:00")
    b = planned("B", 20.0, 1.0, "2023-02-08T22:10:00")  # 600 s < 1+30+120+60+135+300 = 646 s
    r = render("3.6", plan=make_plan(a, b), settings=all_steps)
    assert [len(e.notes) for e in r.plan.events] == [0, 1]
    assert "646" not in r.plan.events[1].notes[0] and "346 s" in r.plan.events[1].notes[0]


# ---------------------------------------------------------------- single job (for `run`)


@pytest.mark.parametrize("version", FORMATS)
def test_single_job_matches_the_night_file(version: str) -> None:
    plan = three_event_plan()
    night = render(version, plan=plan)
    second = plan.scheduled[1]
    single = render_single_job(plan, SETTINGS, second, version=version, night_dir=NIGHT_DIR)
    assert single.schedule.relpath == PurePosixPath("jobs/(41)_Daphne_2023-02-09.esl")
    assert [j.name for j in single.jobs] == [night.jobs[1].name]
    assert single.sequences == (night.sequences[1],)
    assert [j.findtext("Name") for j in esl_jobs(single)] == ["(41) Daphne 2023-02-09"]


def test_single_job_needs_a_scheduled_event() -> None:
    plan = three_event_plan()
    skipped = plan.skipped[0]
    with pytest.raises(RenderError, match="not scheduled"):
        render_single_job(plan, SETTINGS, skipped, version="3.6", night_dir=NIGHT_DIR)


def test_templates_ship_in_the_package() -> None:
    assert set(template_environment().list_templates()) >= {
        "scheduler-3.6.esl.j2",
        "scheduler-3.7.esl.j2",
        "sequence-3.6.esq.j2",
        "sequence-3.7.esq.j2",
    }


# ---------------------------------------------------------------- DST: local times per event


def _berlin_jobs(*starts: str, version: str = "3.6") -> RenderedNight:
    from zoneinfo import ZoneInfo

    events = [planned(f"E{i}", 10.0 * (i + 1), 1.0, s) for i, s in enumerate(starts)]
    return render(version, plan=make_plan(*events), tz=ZoneInfo("Europe/Berlin"))


def test_fall_back_night_two_jobs_an_hour_apart() -> None:
    """The reported case: jobs at 00:30 and 01:30 UTC on 2026-10-25 (clocks go back at 01:00 UTC)
    both read 02:30 local; the spacing is an hour (UTC), and both say their time is ambiguous."""
    r = _berlin_jobs("2026-10-25T00:35:00", "2026-10-25T01:35:00")
    assert [j.start_at for j in r.jobs] == ["2026-10-25T02:30:00", "2026-10-25T02:30:00"]
    assert [j.local_ambiguous for j in r.jobs] == [True, True]
    notes = [" ".join(e.notes) for e in r.plan.events]
    assert all("happens twice tonight (the clocks go back)" in n for n in notes)
    assert not any("starts 0 s after" in n or "invalid" in n for n in notes)


def test_dst_offsets_are_per_event_and_spacing_is_utc() -> None:
    # Spring forward 2026-03-29 01:00 UTC: 00:55 UTC is 01:55 CET, 01:00 UTC is 03:00 CEST.
    r = _berlin_jobs("2026-03-29T01:00:00", "2026-03-29T01:05:00")
    assert [j.start_at for j in r.jobs] == ["2026-03-29T01:55:00", "2026-03-29T03:00:00"]
    assert [j.local_ambiguous for j in r.jobs] == [False, False]
    (note,) = r.plan.events[1].notes
    assert "starts 300 s after" in note  # not the 3900 s of the wall clocks
    winter = _berlin_jobs("2026-01-10T20:05:00")
    summer = _berlin_jobs("2026-07-10T20:05:00")
    assert winter.jobs[0].start_at.endswith("21:00:00")  # CET, UTC+1
    assert summer.jobs[0].start_at.endswith("22:00:00")  # CEST, UTC+2
