"""The job record carries the planned event; the journal's event line keeps its on-disk keys."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from fakes import planned

from ekos_occult.night.records import EventLine, Outcome, Reason
from ekos_occult.night.runner import make_job

# The keys of a journal's "event" line as written before EventLine (journals of earlier nights
# are read back by `run` and `report`): the record must keep every one of them.
JOURNAL_EVENT_KEYS = [
    "name",
    "key",
    "outcome",
    "reason",
    "detail",
    "file",
    "frames",
    "expected_frames",
    "dropped_frames",
    "gaps",
    "gap_list",
    "first_frame_utc",
    "last_frame_utc",
    "start_delay_s",
    "problems",
    "warnings",
    "job_start",
    "record_start",
    "record_end",
    "exposure_s",
    "timestamp_source",
    "flags",
    "steps",
]


def test_a_job_reads_its_times_and_star_from_the_planned_event() -> None:
    ev = planned("Vega", 10, exposure_s=0.05, duration_s=30)
    job = make_job(ev, Path("/fake/Vega.esl"))
    assert job.event is ev and job.name == "Vega"
    assert (job.job_start, job.record_start, job.record_end) == (
        ev.job_start,
        ev.event.record_start,
        ev.event.record_end,
    )
    assert (job.exposure_s, job.duration_s) == (0.05, 30.0)
    assert (job.ra_deg, job.dec_deg) == (ev.event.ra_deg, ev.event.dec_deg)


def test_the_event_line_keeps_the_journal_keys() -> None:
    job = make_job(planned("Vega", 10), None)
    failed = replace(job, reason=Reason.LATE_START, detail="too late", flags=("f",))
    line = EventLine.of(failed, Outcome.FAILED, "host clock", {}).fields()
    assert list(line) == JOURNAL_EVENT_KEYS
    assert line["outcome"] is Outcome.FAILED and line["reason"] is Reason.LATE_START
    assert line["frames"] is None and line["problems"] == [] and line["flags"] == ["f"]
    assert line["timestamp_source"] is None  # no checked file: no frame times to source
