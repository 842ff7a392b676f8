"""Rig checks (kstarsrc, clock, disk, site, KStars answers) and the parts of ``check``/``run``
that need no KStars: refusing night-ending settings, dry run, option errors."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from ekos_occult import cli
from ekos_occult.cli.run import parse_roi
from ekos_occult.errors import ConfigError
from ekos_occult.kstars.client import KStarsLocation
from ekos_occult.kstars.readiness import (
    Verdict,
    check_rig,
    clock_check,
    default_kstarsrc,
    disk_check,
    kstars_settings_checks,
    location_check,
    night_ending,
    read_kstarsrc,
)
from ekos_occult.kstars.states import CommunicationStatus
from ekos_occult.model import Site

GOOD_RC = "[Scheduler]\nStopEkosAfterShutdown=false\nRememberJobProgress=false\n"
# As KStars 3.6.2 writes it after the user ticked the defaults back on (plus KDE key flags).
BAD_RC = (
    "[Scheduler]\nStopEkosAfterShutdown=true\nSchedulerParkMount=true\n"
    "LeadTime[$e]=5\n\n[General]\nKStarsFirstRun=false\n"
)
SITE = Site(51.4769, -0.0005, 46.0)


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "kstarsrc"
    path.write_text(text, encoding="utf-8")
    return path


def test_good_kstarsrc_passes(tmp_path: Path) -> None:
    path = _write(tmp_path, GOOD_RC)
    checks = kstars_settings_checks(read_kstarsrc(path), path)
    assert [c.verdict for c in checks] == [Verdict.OK] * 3 and not night_ending(checks)


def test_bad_kstarsrc_says_exactly_what_to_change(tmp_path: Path) -> None:
    path = _write(tmp_path, BAD_RC)
    groups = read_kstarsrc(path)
    assert groups is not None and groups["Scheduler"]["LeadTime"] == "5"
    checks = {c.name: c for c in kstars_settings_checks(groups, path)}
    quit_ekos = checks["kstars: Ekos stays up after a job"]
    assert quit_ekos.verdict is Verdict.PROBLEM and quit_ekos.night_ending
    assert "StopEkosAfterShutdown=false under [Scheduler]" in quit_ekos.fix
    assert str(path) in quit_ekos.fix
    assert checks["kstars: no parking between jobs"].verdict is Verdict.PROBLEM
    assert "SchedulerParkMount=false" in checks["kstars: no parking between jobs"].fix
    assert checks["kstars: repeated targets are observed"].verdict is Verdict.WARNING


def test_missing_kstarsrc_means_kstars_defaults_end_the_night(tmp_path: Path) -> None:
    path = tmp_path / "nothing"
    assert read_kstarsrc(path) is None
    enders = night_ending(kstars_settings_checks(None, path))
    assert [c.name for c in enders] == ["kstars: Ekos stays up after a job"]
    assert "missing: KStars defaults" in enders[0].detail


def _tools(answers: dict[str, tuple[int, str] | None]):  # type: ignore[no-untyped-def]
    def run(argv: Sequence[str]) -> tuple[int, str] | None:
        return answers.get(argv[0])

    return run


CHRONY = """Reference ID    : C0A80001 (gw)
Stratum         : 3
System time     : 0.000123 seconds slow of NTP time
Leap status     : Normal
"""


@pytest.mark.parametrize(
    ("answers", "verdict", "says"),
    [
        ({"timedatectl": (0, "yes\n")}, Verdict.OK, "NTP synchronised"),
        ({"timedatectl": (0, "no\n")}, Verdict.PROBLEM, "NOT synchronised"),
        ({"timedatectl": None, "chronyc": (0, CHRONY)}, Verdict.OK, "0.0001 s slow"),
        ({"chronyc": (0, CHRONY.replace("0.000123", "0.812"))}, Verdict.WARNING, "0.8120 s"),
        (
            {"chronyc": (0, CHRONY.replace("Normal", "Not synchronised"))},
            Verdict.PROBLEM,
            "Not synchronised",
        ),
        ({"timedatectl": (1, ""), "chronyc": (1, "")}, Verdict.UNKNOWN, "neither"),
        ({}, Verdict.UNKNOWN, "neither"),
    ],
)
def test_clock_sync(
    answers: dict[str, tuple[int, str] | None], verdict: Verdict, says: str
) -> None:
    check = clock_check(_tools(answers))
    assert check.verdict is verdict and says in check.detail


def test_disk_and_site() -> None:
    where = Path("/data")
    assert disk_check(10**9, where, need=2 * 10**9).verdict is Verdict.PROBLEM
    assert disk_check(3 * 10**9, where, need=2 * 10**9).verdict is Verdict.OK
    assert disk_check(10**9, where, rate_bytes_per_s=26 * 10**6).verdict is Verdict.WARNING
    here = KStarsLocation("GPS Location", 51.4769, -0.0005, 0.0, 0.0)
    away = KStarsLocation("Berlin", 52.52, 13.40, 1.0, 1.0)
    assert location_check(here, SITE).verdict is Verdict.OK
    far = location_check(away, SITE)
    assert far.verdict is Verdict.WARNING and "km from the configured site" in far.detail
    assert location_check(here, None).verdict is Verdict.UNKNOWN


def test_default_kstarsrc_of_a_sandbox_bus_or_the_user(tmp_path: Path) -> None:
    state = tmp_path / "sbx"
    state.mkdir()
    (state / "sandbox.json").write_text(
        json.dumps(
            {
                "bus_address": f"unix:path={state}/run/bus,guid=aa",
                "display": ":5",
                "site": [51.0, 0.0, 0.0],
                "profile": "Simulators",
                "xvfb": {"name": "Xvfb", "pid": 1, "start_ticks": 1},
                "dbus": {"name": "dbus-daemon", "pid": 2, "start_ticks": 1},
            }
        )
    )
    home = tmp_path / "home"
    other = "unix:path=/run/user/1000/bus"
    assert (
        default_kstarsrc(f"unix:path={state}/run/bus,guid=bb", [state], {}, home)
        == state / "home" / ".config" / "kstarsrc"
    )
    assert default_kstarsrc(other, [state], {}, home) == home / ".config" / "kstarsrc"
    assert default_kstarsrc(other, [], {"XDG_CONFIG_HOME": "/cfg"}, home) == Path("/cfg/kstarsrc")


class FakeRigClient:
    """What check_rig asks KStars, answered from attributes."""

    def __init__(self) -> None:
        self.running, self.ekos_open = True, True
        self.status = CommunicationStatus.SUCCESS
        self.connected = {"CCD Simulator": True, "Telescope Simulator": True}
        self.props = [
            "CCD Simulator.RECORD_FILE.RECORD_FILE_DIR",
            "CCD Simulator.RECORD_OPTIONS.RECORD_DURATION",
            "CCD Simulator.RECORD_STREAM.RECORD_OFF",
            "CCD Simulator.STREAMING_EXPOSURE.STREAMING_EXPOSURE_VALUE",
            "CCD Simulator.CCD_VIDEO_STREAM.STREAM_ON",
            "CCD Simulator.CCD_STREAM_RECORDER.SER",
            "CCD Simulator.CCD_STREAM_FRAME.X",
        ]
        self.ser_on = True

    async def is_running(self) -> bool:
        return self.running

    async def is_ekos_open(self) -> bool:
        return self.ekos_open

    async def ekos_status(self) -> CommunicationStatus:
        return self.status

    async def indi_status(self) -> CommunicationStatus:
        return self.status

    async def devices(self) -> list[str]:
        return list(self.connected)

    async def is_device_connected(self, device: str) -> bool:
        return self.connected[device]

    async def camera_name(self) -> str:
        return "CCD Simulator"

    async def device_properties(self, device: str) -> list[str]:
        return self.props

    async def get_switch(self, device: str, prop: str, element: str) -> bool:
        return self.ser_on

    async def location(self) -> KStarsLocation:
        return KStarsLocation("GPS Location", 51.4769, -0.0005, 0.0, 0.0)


def _verdicts(client: FakeRigClient) -> dict[str, Verdict]:
    return {c.name: c.verdict for c in asyncio.run(check_rig(client, site=SITE))}


def test_check_rig_all_good_then_each_fault() -> None:
    client = FakeRigClient()
    assert set(_verdicts(client).values()) == {Verdict.OK}
    client.ser_on = False
    client.props = [p for p in client.props if "RECORD_OPTIONS" not in p]
    v = _verdicts(client)
    assert v["camera: SER recorder"] is Verdict.PROBLEM
    assert v["camera: stream recording"] is Verdict.PROBLEM
    client.connected["Telescope Simulator"] = False
    assert _verdicts(client)["devices"] is Verdict.PROBLEM
    client.status = CommunicationStatus.IDLE
    assert _verdicts(client) == {"kstars": Verdict.OK, "ekos": Verdict.PROBLEM}
    client.running = False
    assert _verdicts(client) == {"kstars": Verdict.PROBLEM}


def _events(tmp_path: Path) -> Path:
    start = (datetime.now(timezone.utc) + timedelta(hours=2)).replace(microsecond=0)
    csv = tmp_path / "ev.csv"
    csv.write_text(
        "name,ra,dec,start,duration,mag,exposure\n"
        f"Polaris x,37.95,89.26,{start:%Y-%m-%dT%H:%M:%S},10,2.0,0.1\n"
    )
    return csv


def test_run_refuses_a_kstars_that_would_end_the_night(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc_file = _write(tmp_path, BAD_RC)
    out = tmp_path / "night"
    rc = cli.main(
        [
            "run",
            str(_events(tmp_path)),
            "--bus",
            "unix:path=/nonexistent/bus",
            "--kstarsrc",
            str(rc_file),
            "--site",
            "51.4769,-0.0005,46",
            "--max-sun-altitude",
            "90",
            "--out",
            str(out),
        ]
    )
    err = capsys.readouterr().err
    assert rc == 2
    assert "would end the night after the first event" in err
    assert "StopEkosAfterShutdown=false under [Scheduler]" in err
    assert not out.exists()  # nothing written, Ekos never contacted


def test_run_dry_run_prints_the_steps(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "night"
    rc = cli.main(
        [
            "run",
            str(_events(tmp_path)),
            "--dry-run",
            "--site",
            "51.4769,-0.0005,46",
            "--max-sun-altitude",
            "90",
            "--out",
            str(out),
            "--roi",
            "0,0,320,240",
        ]
    )
    text = capsys.readouterr().out
    assert rc == 0 and not out.exists()
    assert "Polaris x:" in text and "record 10 s" in text
    assert "ROI 0,0 320x240" in text and "Polaris-x-" in text


def test_run_folder_without_events_copy(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = cli.main(["run", str(tmp_path), "--dry-run", "--site", "51.4769,-0.0005,46"])
    assert rc == 2 and "without events.csv" in capsys.readouterr().err


def test_parse_roi() -> None:
    assert parse_roi("1,2,30,40") == (1, 2, 30, 40)
    assert parse_roi(None) is None and parse_roi(None, [0, 0, 64, 48]) == (0, 0, 64, 48)
    for bad in ("1,2,3", "a,b,c,d", "0,0,0,10", "-1,0,5,5"):
        with pytest.raises(ConfigError, match="--roi"):
            parse_roi(bad)


def test_run_carries_on_a_folder_written_by_render(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`render` keeps the events beside the files, so `run FOLDER` plans the same night."""
    night = tmp_path / "night"
    events = _events(tmp_path)
    site = ["--site", "51.4769,-0.0005,46", "--max-sun-altitude", "90"]
    assert cli.main(["render", str(events), "--out", str(night), *site]) == 0
    assert (night / "events.csv").read_text() == events.read_text()
    capsys.readouterr()
    rc = cli.main(["run", str(night), "--dry-run", *site])
    text = capsys.readouterr().out
    assert rc == 0
    assert "Polaris x:" in text and "record 10 s" in text
    assert f"night folder {night}" in text


# --- KStars' first connect to its INDI server ---------------------------------------------
_CLEAN = [
    'org.kde.kstars.ekos: "Starting INDI services..."',
    "INDI::BaseClient::connectServer: creating new connection...",
    'org.kde.kstars.ekos: "INDI services started on port 7,624."',
    "INDI::BaseClient::connectServer: creating new connection...",  # Align's, later: not counted
]
_RACE = [
    'org.kde.kstars.ekos: "Starting INDI services..."',
    "INDI::BaseClient::connectServer: creating new connection...",
    "INDI::BaseClient::connectServer: creating new connection...",
    'org.kde.kstars.ekos: "INDI services started on port 7,624."',
]


def test_indi_connect_race_is_seen_in_the_log() -> None:
    from ekos_occult.kstars.readiness import indi_connect_check

    assert indi_connect_check(_CLEAN, "kstars.log").verdict is Verdict.OK
    lost = indi_connect_check(_RACE, "kstars.log")
    assert (
        lost.verdict is Verdict.PROBLEM and "2 tries" in lost.detail and "kstars.log" in lost.detail
    )
    assert "Pre start delay" in lost.fix
    # Only the last Ekos start counts: a lost race earlier, then a clean restart, is fine.
    assert indi_connect_check(_RACE + _CLEAN, "x").verdict is Verdict.OK
    assert indi_connect_check(_CLEAN + _RACE, "x").verdict is Verdict.PROBLEM
    assert indi_connect_check(["nothing"], "x").verdict is Verdict.UNKNOWN
    no_client_lines = [_CLEAN[0], _CLEAN[2]]
    assert indi_connect_check(no_client_lines, "x").verdict is Verdict.UNKNOWN


def test_kstars_log_of_a_sandbox_is_found_by_its_bus(tmp_path: Path) -> None:
    import json

    from ekos_occult.kstars.readiness import kstars_log_lines

    sbx = tmp_path / "sbx"
    (sbx / "logs").mkdir(parents=True)
    (sbx / "logs" / "kstars.log").write_text("\n".join(_RACE) + "\n", encoding="utf-8")
    rec = {"name": "x", "pid": 1, "start_ticks": 1}
    state = {
        "bus_address": "unix:path=/x/bus",
        "display": ":1",
        "site": [1.0, 2.0, 3.0],
        "profile": "Simulators",
        "xvfb": rec,
        "dbus": rec,
    }
    (sbx / "sandbox.json").write_text(json.dumps(state), encoding="utf-8")
    lines, where = kstars_log_lines("unix:path=/x/bus", [sbx], tmp_path / "home")
    assert lines == _RACE and where == str(sbx / "logs" / "kstars.log")
    assert kstars_log_lines("unix:path=/other", [sbx], tmp_path / "home") == ([], "")


def test_which_kstarsrc_keys_exist_depends_on_the_version(tmp_path: Path) -> None:
    path = tmp_path / "kstarsrc"
    groups = {
        "Scheduler": {"StopEkosAfterShutdown": "false", "SchedulerParkMount": "true"},
        "indi": {"timeSource": "Telescope Simulator", "locationSource": "KStars"},
    }
    on37 = {c.name: c for c in kstars_settings_checks(groups, path, "3.7.5")}
    assert on37["kstars: no parking between jobs"].verdict is Verdict.PROBLEM
    on38 = {c.name: c for c in kstars_settings_checks(groups, path, "3.8.1")}
    park = on38["kstars: no parking between jobs"]
    assert park.verdict is Verdict.OK and "does not exist on KStars 3.8" in park.detail
    time_source = on38["kstars: time source"]
    assert time_source.verdict is Verdict.WARNING and "Telescope Simulator" in time_source.detail
    assert "kstars: location source" not in on38  # KStars' own
    assert not any("source" in c.name for c in kstars_settings_checks(None, path))


@pytest.mark.parametrize(
    "data",
    [
        b"RememberJobProgress=true\n",  # a key before any group
        b"[Scheduler]\nnot a setting\n  indented=1\n",  # lines KDE would skip
        b"[Sched\nx=1\n",  # an unclosed group
        b"\xff\xfe\x00[\x00S\x00",  # UTF-16 garbage
        b"[Scheduler]\nRememberJobProgress[$e]=true\n",
    ],
)
def test_any_kstarsrc_is_read_without_a_crash(tmp_path: Path, data: bytes) -> None:
    rc = tmp_path / "kstarsrc"
    rc.write_bytes(data)
    groups = read_kstarsrc(rc)
    assert groups is not None
    kstars_settings_checks(groups, rc)  # verdicts, never an exception
    if data.startswith(b"[Scheduler]\nRemember"):
        assert groups["Scheduler"] == {"RememberJobProgress": "true"}


def test_check_with_a_broken_kstarsrc_reports_and_exits_without_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from ekos_occult.cli import main

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS", raising=False)
    rc = tmp_path / "kstarsrc"
    rc.write_bytes(b"garbage without a group\n[Scheduler\n=\n")
    code = main(["check", "--kstarsrc", str(rc), "--state-dir", str(tmp_path / "none")])
    out, err = capsys.readouterr()
    assert code in (0, 1) and "Traceback" not in err
    assert "kstars settings" in out or "KStars" in out
