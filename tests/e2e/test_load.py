"""``ekos-occult load`` against the real headless KStars 3.6.2 / Ekos of the session sandbox.

KStars 3.6 has no D-Bus call that lists its scheduler jobs, so the proof that Ekos holds every
job with its start time comes from the scheduler itself:

- on load it writes "Job 'X' at row #N was saved." for each job to its debug log (the sandbox
  runs KStars with ``SchedulerLogging=true``; its stderr is ``<state dir>/logs/kstars.log``):
  rows 1..N after a second load prove the queue was replaced, not appended to;
- when started it evaluates every job ("Job 'X' is scheduled to start at 22/11 00:25, in
  compliance with fixed startup time requirement.") and says on D-Bus which one it waits for
  ("Sleeping until observation job X is ready at Sun Nov 22 00:25:00 2026..."); stopped, it
  names every job it held ("Job 'X' has not been processed upon scheduler stop, marking
  aborted."). The tests start it only to read that, then stop it (``ekos_clean`` empties it).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from e2e_helpers import Sandbox, restart_sandbox

from ekos_occult.clock import SystemClock
from ekos_occult.errors import EkosCommandFailed
from ekos_occult.kstars.events import EkosSignal
from ekos_occult.kstars.loader import load_night
from ekos_occult.kstars.states import SchedulerState
from ekos_occult.model import Site

pytestmark = pytest.mark.timeout(240)

SAVED = re.compile(r"Job '(.+)' at row #(\d+) was saved\.")
SCHEDULED = re.compile(
    r"Job '(.+)' is scheduled to start at (\d\d/\d\d \d\d:\d\d), in compliance with fixed "
    r"startup time requirement\."
)
ABORTED = re.compile(r"Job '(.+)' has not been processed upon scheduler stop, marking aborted\.")
SLEEPING = re.compile(r"Sleeping until observation job (.+) is ready at (.+)\.\.\.")
SYDNEY = Site(-33.87, 151.21, 50.0)  # KStars 3.6.2 gives it UTC+10 (no DST for a GPS location)
# Names that must survive XML escaping and path sanitising on their way into the real Ekos.
NAMES = ("(2) Pallas & HIP 27321", 'TYC 1234-01102-1 "B"', "Ceres' star")


def _lst_deg(t: datetime, lon_deg: float) -> float:
    """Local mean sidereal time in degrees (minutes of accuracy are plenty here)."""
    jd = t.timestamp() / 86400.0 + 2440587.5
    return ((18.697374558 + 24.06570982441908 * (jd - 2451545.0)) * 15.0 + lon_deg) % 360.0


def night_csv(path: Path, site: Site, hours: tuple[float, ...], names: tuple[str, ...]) -> Path:
    """Events ``hours`` from now, each star at the zenith of ``site`` when its recording starts."""
    now = datetime.now(timezone.utc).replace(microsecond=0)
    rows = ["name,ra,dec,start,duration,mag"]
    for name, h in zip(names, hours, strict=True):
        t = now + timedelta(hours=h)
        quoted = '"' + name.replace('"', '""') + '"'
        rows.append(
            f"{quoted},{_lst_deg(t, site.lon_deg):.4f},{site.lat_deg:.3f},"
            f"{t:%Y-%m-%dT%H:%M:%S},20,9.0"
        )
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


@dataclass(frozen=True)
class Result:
    rc: int
    out: str
    err: str

    @property
    def data(self) -> dict[str, object]:
        assert self.rc == 0, self.err
        loaded = json.loads(self.out)
        assert isinstance(loaded, dict)
        return loaded


def run_load(sb: Sandbox, tmp_path: Path, csv: Path, site: Site, *extra: str) -> Result:
    """``ekos-occult load`` as an observer runs it, in a fresh process with no user config."""
    env = {k: v for k, v in os.environ.items() if k != "DBUS_SESSION_BUS_ADDRESS"}
    for var, sub in (
        ("XDG_CONFIG_HOME", "config"),
        ("XDG_DATA_HOME", "data"),
        ("XDG_STATE_HOME", "state"),
    ):
        (tmp_path / sub).mkdir(exist_ok=True)
        env[var] = str(tmp_path / sub)
    site_arg = f"--site={site.lat_deg},{site.lon_deg},{site.elevation_m}"
    # The Sun rule is off (--max-sun-altitude 90) so the test runs at any hour; Ekos' jobs carry
    # no twilight constraint, so the scheduler accepts them by day as well.
    cmd = [
        sys.executable,
        "-m",
        "ekos_occult",
        "load",
        str(csv),
        site_arg,
        "--bus",
        sb.bus_address,
        "--out",
        str(tmp_path / "night"),
        "--max-sun-altitude",
        "90",
        *extra,
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    return Result(proc.returncode, proc.stdout, proc.stderr)


class KStarsLog:
    """The new part of the sandbox KStars' debug log since this object was made."""

    def __init__(self, sb: Sandbox) -> None:
        self.path = sb.state_dir / "logs" / "kstars.log"
        assert self.path.is_file(), f"no KStars log at {self.path}"
        self.offset = self.path.stat().st_size

    def new_text(self) -> str:
        with self.path.open("rb") as fh:
            if fh.seek(0, 2) >= self.offset:
                fh.seek(self.offset)
            else:  # KStars was restarted and the log started again
                fh.seek(0)
            return fh.read().decode("utf-8", "replace")

    def saved_rows(self) -> list[tuple[int, str]]:
        return [(int(m.group(2)), m.group(1)) for m in SAVED.finditer(self.new_text())]

    def scheduled(self) -> dict[str, str]:
        return {m.group(1): m.group(2) for m in SCHEDULED.finditer(self.new_text())}


async def _evaluate(sb: Sandbox, timeout_s: float = 30.0) -> list[str]:
    """Start the scheduler until it has planned its jobs, stop it; its D-Bus log lines."""
    lines: list[str] = []
    loop = asyncio.get_running_loop()
    async with (
        sb.client() as ekos,
        ekos.listen(EkosSignal.SCHEDULER_LOG, EkosSignal.SCHEDULER_STATUS) as stream,
    ):
        await ekos.start_scheduler()
        deadline = loop.time() + timeout_s
        stopping = False
        while True:
            event = await stream.next(max(0.1, deadline - loop.time()))
            if event.signal is EkosSignal.SCHEDULER_LOG:
                lines.append(str(event.value))
                if not stopping and ("Sleeping until" in lines[-1] or "No jobs left" in lines[-1]):
                    stopping = True
                    await ekos.stop_scheduler()
            elif stopping and event.value is SchedulerState.IDLE:
                return lines


def evaluate(sb: Sandbox) -> list[str]:
    return asyncio.run(_evaluate(sb))


def qt_date(local: datetime) -> str:
    """QDateTime::toString() in the C locale: ``Sun Nov 22 00:25:00 2026``."""
    return f"{local:%a %b} {local.day} {local:%H:%M:%S %Y}"


def jobs_of(data: dict[str, object]) -> list[dict[str, str]]:
    jobs = data["jobs"]
    assert isinstance(jobs, list)
    return jobs


def assert_ekos_holds(sb: Sandbox, log: KStarsLog, jobs: list[dict[str, str]]) -> list[str]:
    """Rows 1..N saved on load; every job evaluated at its StartAt; each named once on stop."""
    names = [j["name"] for j in jobs]
    assert log.saved_rows() == [(i + 1, n) for i, n in enumerate(names)]
    dbus_lines = evaluate(sb)
    expected = {
        j["name"]: datetime.fromisoformat(j["start_at"]).strftime("%d/%m %H:%M") for j in jobs
    }
    assert log.scheduled() == expected, log.new_text()[-3000:]
    assert [m.group(1) for line in dbus_lines if (m := ABORTED.search(line))] == names
    sleeping = [m for line in dbus_lines if (m := SLEEPING.search(line))]
    first = datetime.fromisoformat(jobs[0]["start_at"])
    assert [(m.group(1), m.group(2)) for m in sleeping] == [(names[0], qt_date(first))]
    assert not [line for line in dbus_lines if "invalid" in line or "Warning" in line]
    return dbus_lines


def test_load_puts_every_job_with_its_start_time_into_ekos_and_again_the_same(
    sandbox: Sandbox, ekos_clean: None, tmp_path: Path
) -> None:
    csv = night_csv(tmp_path / "tonight.csv", sandbox.site, (1.0, 2.0, 3.0), NAMES)
    log = KStarsLog(sandbox)
    first = run_load(sandbox, tmp_path, csv, sandbox.site, "--json")
    data = first.data
    assert data["loaded"] is True and data["scheduler_status"] == "idle"
    assert (data["kstars_version"], data["file_format"], data["format_source"]) == (
        "3.6.2",
        "3.6",
        "detected",
    )
    assert data["ekos_log"] == []  # KStars 3.6.2 logs nothing for a file it accepts
    assert data["kstars_tz_hours"] == sandbox.state.tz_hours
    jobs = jobs_of(data)
    assert [j["event"] for j in jobs] == list(NAMES)
    assert Path(str(data["schedule"])).is_file()
    print(f"first load: {data['load_seconds']} s in Ekos; jobs {[j['name'] for j in jobs]}")
    lines = assert_ekos_holds(sandbox, log, jobs)
    print("scheduler said:", *lines, sep="\n  ")

    log = KStarsLog(sandbox)
    again = run_load(sandbox, tmp_path, csv, sandbox.site, "--json").data
    assert jobs_of(again) == jobs
    assert_ekos_holds(sandbox, log, jobs)  # rows 1..3 again: replaced, not appended


def test_start_times_are_written_in_kstars_local_time(
    sandbox: Sandbox, ekos_clean: None, tmp_path: Path
) -> None:
    async def set_site(site: Site) -> float:
        async with sandbox.client() as ekos:
            await ekos.set_gps_location(site.lat_deg, site.lon_deg, site.elevation_m)
            return (await ekos.location()).tz_hours

    tz_hours = asyncio.run(set_site(SYDNEY))
    try:
        assert tz_hours == 10.0
        csv = night_csv(tmp_path / "sydney.csv", SYDNEY, (1.0, 2.5), ("star one", "star two"))
        text = run_load(sandbox, tmp_path, csv, SYDNEY)
        assert text.rc == 0, text.err
        assert "start times in UTC+10:00" in text.out
        log = KStarsLog(sandbox)
        jobs = jobs_of(run_load(sandbox, tmp_path, csv, SYDNEY, "--json").data)
        for job in jobs:
            utc = datetime.fromisoformat(job["job_start_utc"])
            assert datetime.fromisoformat(job["start_at"]) == (utc + timedelta(hours=10)).replace(
                tzinfo=None
            )
        # Had UTC been written, Ekos would see the jobs 10 h early (in the past) and mark them
        # invalid; it schedules them at their local times instead.
        assert_ekos_holds(sandbox, log, jobs)
    finally:
        # Back to the site in a fresh KStars: 3.6.2 moved to another time zone and back crashes
        # on INDI.sendProperty after the next scheduler job (see restart_sandbox).
        restart_sandbox(sandbox.state_dir, sandbox.site)


def test_a_night_with_nothing_observable_loads_nothing(
    sandbox: Sandbox, ekos_clean: None, tmp_path: Path
) -> None:
    real = night_csv(tmp_path / "real.csv", sandbox.site, (1.5,), ("kept job",))
    kept = jobs_of(run_load(sandbox, tmp_path, real, sandbox.site, "--json").data)
    past = night_csv(tmp_path / "past.csv", sandbox.site, (-30.0, -20.0), ("gone 1", "gone 2"))
    log = KStarsLog(sandbox)
    result = run_load(sandbox, tmp_path, past, sandbox.site)
    assert result.rc == 0, result.err
    assert result.out.startswith("Nothing to load: none of the 2 event(s)")
    assert "(skipped: past)" in result.out and "Ekos was not contacted" in result.out
    assert log.saved_rows() == []
    # Ekos still holds exactly what it held before.
    lines = evaluate(sandbox)
    assert [m.group(1) for line in lines if (m := ABORTED.search(line))] == [kept[0]["name"]]


def test_a_running_scheduler_is_refused_unless_forced(
    sandbox: Sandbox, ekos_clean: None, tmp_path: Path
) -> None:
    csv = night_csv(tmp_path / "tonight.csv", sandbox.site, (1.0,), ("running job",))
    assert run_load(sandbox, tmp_path, csv, sandbox.site).rc == 0

    async def start() -> SchedulerState:
        async with sandbox.client() as ekos:
            await ekos.start_scheduler()
            for _ in range(50):
                if (state := await ekos.scheduler_status()) is SchedulerState.RUNNING:
                    break
                await asyncio.sleep(0.1)
            return state

    async def status() -> SchedulerState:
        async with sandbox.client() as ekos:
            return await ekos.scheduler_status()

    assert asyncio.run(start()) is SchedulerState.RUNNING
    refused = run_load(sandbox, tmp_path, csv, sandbox.site)
    assert refused.rc == 1
    assert "The Ekos scheduler is running" in refused.err and "--force" in refused.err
    assert asyncio.run(status()) is SchedulerState.RUNNING  # untouched

    forced = run_load(sandbox, tmp_path, csv, sandbox.site, "--force", "--json").data
    assert forced["stopped_scheduler"] == "running"
    assert forced["scheduler_status"] == "idle"
    assert asyncio.run(status()) is SchedulerState.IDLE


def test_a_schedule_ekos_refuses_is_an_error_quoting_its_log(
    sandbox: Sandbox, ekos_clean: None, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.esl"
    broken.write_text(
        "<?xml version='1.0' encoding='UTF-8'?>\n<SchedulerList version='1.5'>\n"
        "<Job>\n<Name>unclosed\n</Job>\n</SchedulerList>\n",
        encoding="utf-8",
    )

    class Night:
        jobs = ()

    async def load_broken() -> None:
        async with sandbox.client() as ekos:
            await load_night(ekos, Night(), lambda: (broken,), force=False, clock=SystemClock())

    with pytest.raises(EkosCommandFailed) as err:
        asyncio.run(load_broken())
    text = str(err.value)
    assert f"Ekos could not read the schedule {broken}" in text
    # KStars' own parser message, quoted from the scheduler's log
    assert re.search(r"\n  Line \d+: closing tag Job does not match Name\n", text), text
