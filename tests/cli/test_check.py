"""``ekos-occult check`` through cli.main: the verdict lines or JSON, and the exit status.

Without KStars (no bus, or a private dbus-daemon on which nothing is served) the KStars check is
a problem; the kstarsrc checks read the file given with ``--kstarsrc``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from privatebus import private_bus

from ekos_occult.app import check as check_use_case
from ekos_occult.cli import main
from ekos_occult.kstars import readiness
from ekos_occult.kstars.readiness import Check, Verdict
from ekos_occult.night.ports import ClockSync


class FakeClockReader:
    """A synchronised clock with a 12 ms maximum error (or what the test says)."""

    def __init__(self, state: ClockSync | None = None) -> None:
        self.state = state or ClockSync(True, 0.012, 0.0005)

    def read(self) -> ClockSync:
        return self.state


GOOD_KSTARSRC = "[Scheduler]\nStopEkosAfterShutdown=false\nRememberJobProgress=false\n"


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for var, sub in (
        ("XDG_CONFIG_HOME", "config"),
        ("XDG_DATA_HOME", "data"),
        ("XDG_STATE_HOME", "state"),
    ):
        monkeypatch.setenv(var, str(tmp_path / sub))
    monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS", raising=False)
    monkeypatch.chdir(tmp_path)
    # The clock check asks the kernel: the answer depends on the machine.
    monkeypatch.setattr(check_use_case, "default_clock_reader", lambda: FakeClockReader())
    monkeypatch.setattr(
        readiness, "clock_check", lambda: Check("clock", Verdict.OK, "synchronised (test)")
    )


@pytest.fixture
def empty_bus(tmp_path: Path) -> Iterator[str]:
    with private_bus(tmp_path / "bus") as address:
        yield address


def kstarsrc(tmp_path: Path, text: str) -> str:
    path = tmp_path / "kstarsrc"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_no_kstars_is_a_problem_and_exits_1(
    tmp_path: Path, empty_bus: str, capsys: pytest.CaptureFixture[str]
) -> None:
    rc = main(["check", "--bus", empty_bus, "--kstarsrc", kstarsrc(tmp_path, GOOD_KSTARSRC)])
    out, err = capsys.readouterr()
    assert rc == 1 and err == ""
    lines = out.splitlines()
    assert "[FAIL] kstars: KStars is not running on this bus" in lines
    assert any(line.startswith("[  ok] kstars: Ekos stays up after a job: ") for line in lines)
    assert any(line.startswith("[  ok] clock: ") for line in lines)
    assert lines[-1] == "Not ready: fix the FAIL lines above."


def test_json_lists_every_check(
    tmp_path: Path, empty_bus: str, capsys: pytest.CaptureFixture[str]
) -> None:
    rc = main(
        [
            "check",
            "--bus",
            empty_bus,
            "--kstarsrc",
            kstarsrc(tmp_path, "[Scheduler]\nStopEkosAfterShutdown=true\n"),
            "--json",
        ]
    )
    out, err = capsys.readouterr()
    assert rc == 1 and err == ""
    report = json.loads(out)
    assert report["ok"] is False
    verdicts = {c["name"]: c["verdict"] for c in report["checks"]}
    assert verdicts["kstars"] == "problem"
    assert verdicts["kstars: Ekos stays up after a job"] == "problem"
    assert verdicts["kstars: repeated targets are observed"] == "warning"
    ending = next(c for c in report["checks"] if c["name"] == "kstars: Ekos stays up after a job")
    assert "StopEkosAfterShutdown=false" in ending["fix"]


def test_ready_rig_exits_0(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from ekos_occult.app import check as check_case

    async def kstars_ok(bus: str, settings: object) -> tuple[list[Check], None, str, None]:
        return [Check("kstars", Verdict.OK, f"KStars 3.6.2 on {bus} (test)")], None, "3.6.2", None

    monkeypatch.setattr(check_case, "_kstars_checks", kstars_ok)
    rc = main(
        ["check", "--bus", "unix:path=/test", "--kstarsrc", kstarsrc(tmp_path, GOOD_KSTARSRC)]
    )
    out, err = capsys.readouterr()
    assert rc == 0 and err == ""
    assert "[  ok] kstars: KStars 3.6.2 on unix:path=/test (test)" in out.splitlines()
    assert out.splitlines()[-1] == "Ready for the night."


def test_a_missing_kstarsrc_means_kstars_defaults_which_end_the_night(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nope"
    assert main(["check", "--kstarsrc", str(missing)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert (
        f"[FAIL] kstars: Ekos stays up after a job: {missing} (missing: KStars defaults): "
        "StopEkosAfterShutdown=true"
    ) in [line.split(": after each")[0] for line in lines]
    assert lines[-1] == "Not ready: fix the FAIL lines above."


@pytest.mark.parametrize(
    ("state", "mark", "ok"),
    [
        (ClockSync(True, 0.012, 0.0005), "[  ok] clock: kernel (adjtimex): synchronised", True),
        (ClockSync(True, 0.5, 0.1), "[WARN] clock: kernel (adjtimex): synchronised, but", True),
        (ClockSync(False, 16.0, 16.0), "[FAIL] clock: kernel (adjtimex): the clock is NOT", False),
    ],
)
def test_clock_section_from_the_kernel(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    state: ClockSync,
    mark: str,
    ok: bool,
) -> None:
    monkeypatch.setattr(check_use_case, "default_clock_reader", lambda: FakeClockReader(state))
    args = ["--bus", "unix:path=/nonexistent", "--kstarsrc", kstarsrc(tmp_path, GOOD_KSTARSRC)]
    main(["check", *args])
    out = capsys.readouterr().out
    assert any(line.startswith(mark) for line in out.splitlines()), out
    main(["check", *args, "--json"])
    report = json.loads(capsys.readouterr().out)
    assert report["clock"]["synchronised"] is state.synchronised
    assert report["clock"]["max_error_s"] == state.max_error_s
    assert report["clock"]["source"] == "adjtimex"
    verdict = next(c for c in report["checks"] if c["name"] == "clock")["verdict"]
    assert (verdict != "problem") is ok


def test_check_json_clock_is_the_kernels(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The real reader: check --json reports what adjtimex says on this machine."""
    from ekos_occult.night.timesync import KernelClockReader

    monkeypatch.setattr(check_use_case, "default_clock_reader", lambda: KernelClockReader())
    args = ["--bus", "unix:path=/nonexistent", "--kstarsrc", kstarsrc(tmp_path, GOOD_KSTARSRC)]
    main(["check", *args, "--json"])
    clock = json.loads(capsys.readouterr().out)["clock"]
    direct = KernelClockReader(chrony=False).read()
    assert clock["synchronised"] is direct.synchronised and isinstance(direct.synchronised, bool)
    assert clock["max_error_s"] == pytest.approx(direct.max_error_s, abs=1.0)
    assert 0.0 <= clock["max_error_s"] <= 16.0  # the kernel caps it at NTP_PHASE_LIMIT


def test_free_space_on_a_remote_indi_host_is_said_to_be_unknown_or_read_through_its_mount(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from ekos_occult.app import check as check_case

    async def remote(bus: str, settings: object) -> tuple[list[Check], None, str, str]:
        return [Check("kstars", Verdict.OK, "KStars 3.8.1 (test)")], None, "3.8.1", "sm.local"

    monkeypatch.setattr(check_case, "_kstars_checks", remote)
    rc_file = kstarsrc(tmp_path, GOOD_KSTARSRC)
    main(["check", "--bus", "unix:path=/test", "--kstarsrc", rc_file])
    out = capsys.readouterr().out
    assert "written on the INDI host sm.local: its free disk space cannot be checked" in out
    mount = tmp_path / "sm"
    mount.mkdir()
    config = tmp_path / "config.toml"
    config.write_text(f"[indi]\nremote_record_dir = '{mount}'\n", encoding="utf-8")
    main(["--config", str(config), "check", "--bus", "unix:path=/test", "--kstarsrc", rc_file])
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if "disk:" in x or "] disk" in x)
    assert f"free in {mount}" in line and "(INDI host sm.local, mounted)" in line
    assert line.startswith("[  ok]")


def test_an_unreadable_mount_of_the_remote_recordings_is_a_problem(tmp_path: Path) -> None:
    from ekos_occult.app.check import recordings_disk_check

    check = recordings_disk_check("sm", tmp_path / "not-mounted", tmp_path, None)
    assert check.verdict is Verdict.PROBLEM and "cannot be read" in check.detail


def test_the_disk_check_looks_where_run_records_by_default(
    tmp_path: Path, empty_bus: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # From a new user's trial: it looked at the current folder while run records under the
    # user data dir (XDG_DATA_HOME here).
    rc = kstarsrc(tmp_path, GOOD_KSTARSRC)
    main(["check", "--bus", empty_bus, "--kstarsrc", rc, "--json"])
    doc = json.loads(capsys.readouterr().out)
    (disk,) = [c for c in doc["checks"] if c["name"] == "disk"]
    assert f"free in {tmp_path / 'data' / 'ekos-occult' / 'nights'}" in disk["detail"]
    main(["check", "--bus", empty_bus, "--kstarsrc", rc, "--json", "--out", str(tmp_path / "n")])
    doc = json.loads(capsys.readouterr().out)
    (disk,) = [c for c in doc["checks"] if c["name"] == "disk"]
    assert f"free in {tmp_path / 'n'}" in disk["detail"]
