"""The kernel clock reader (adjtimex through ctypes) and chrony's tracking line."""

from __future__ import annotations

import pytest

from ekos_occult.night.ports import ClockSync
from ekos_occult.night.timesync import (
    STA_UNSYNC,
    TIME_ERROR,
    KernelClockReader,
    _adjtimex,
    parse_chrony_tracking,
)


def test_kernel_state_is_read_and_consistent() -> None:
    got = _adjtimex()
    assert not isinstance(got, str), got
    state, tx = got
    assert 0 <= state <= TIME_ERROR
    assert tx.tick > 0 and tx.tolerance > 0  # the struct was laid out right
    clock = KernelClockReader(chrony=False).read()
    assert clock.source == "adjtimex"
    assert clock.synchronised is (not (tx.status & STA_UNSYNC) and state != TIME_ERROR)
    assert clock.max_error_s is not None and 0.0 <= clock.max_error_s <= 16.0
    assert clock.est_error_s is not None and clock.est_error_s >= 0.0


def test_chrony_tracking_line() -> None:
    line = (
        "C0A80101,192.168.1.1,3,1732993200.123456789,-0.000012345,0.000001,0.000020,"
        "-12.345,0.001,0.020,0.001234,0.000456,64.2,Normal\n"
    )
    got = parse_chrony_tracking(line)
    assert got == {
        "reference": "192.168.1.1",
        "stratum": 3,
        "system_offset_s": pytest.approx(-0.000012345),
        "root_delay_s": pytest.approx(0.001234),
        "root_dispersion_s": pytest.approx(0.000456),
        "leap_status": "Normal",
    }
    assert parse_chrony_tracking("506 Cannot talk to daemon") is None
    assert parse_chrony_tracking(line.replace(",3,", ",x,")) is None


@pytest.mark.parametrize(
    ("clock", "problems"),
    [
        (ClockSync(True, 0.01, 0.001), []),
        (ClockSync(False, 16.0, 16.0), ["NOT synchronised", "maximum error 16.000 s"]),
        (ClockSync(True, 0.2, 0.01), ["maximum error 0.200 s is over the 0.1 s limit"]),
        (ClockSync(None, source="libc adjtimex unavailable"), ["synchronisation is unknown"]),
    ],
)
def test_clock_problems(clock: ClockSync, problems: list[str]) -> None:
    got = clock.problems(0.1)
    assert len(got) == len(problems)
    for text, want in zip(got, problems, strict=True):
        assert want in text


class _FakeGpsd:
    """A gpsd on a free localhost port: a banner, then on ?WATCH/?POLL the given reports."""

    def __init__(self, replies: list[dict[str, object]] | None, banner: bool = True) -> None:
        import socket
        import threading

        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.replies, self.banner, self.got = replies, banner, b""
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        import json

        conn, _ = self.sock.accept()
        with conn:
            if self.banner:
                conn.sendall(b'{"class":"VERSION","release":"3.22","proto_major":3}\r\n')
            conn.settimeout(2.0)
            self.got = conn.recv(1024)
            if self.replies is None:  # silent: hold the line open until the client leaves
                conn.recv(1)
                return
            for r in self.replies:
                conn.sendall(json.dumps(r).encode() + b"\r\n")
            conn.recv(1)

    def close(self) -> None:
        self.sock.close()
        self.thread.join(timeout=5)


GPS_REPLIES: list[dict[str, object]] = [
    {"class": "DEVICES", "devices": [{"class": "DEVICE", "path": "/dev/ttyACM0"}]},
    {"class": "WATCH", "enable": True, "json": True},
    {"class": "PPS", "device": "/dev/ttyACM0", "real_sec": 1, "clock_sec": 1},
    {
        "class": "POLL",
        "time": "2026-11-30T20:00:00.000Z",
        "active": 1,
        "tpv": [{"class": "TPV", "mode": 3, "time": "2026-11-30T20:00:00.000Z", "ept": 0.005}],
        "sky": [{"class": "SKY", "uSat": 9, "nSat": 14}],
    },
]


def test_gpsd_state_is_read_from_its_json() -> None:
    from ekos_occult.night.timesync import read_gpsd

    fake = _FakeGpsd(GPS_REPLIES)
    try:
        got = read_gpsd(port=fake.port, timeout_s=3.0)
    finally:
        fake.close()
    assert fake.got.startswith(b'?WATCH={"enable":true,"json":true};?POLL;')
    assert got == {
        "release": "3.22",
        "devices": ["/dev/ttyACM0"],
        "pps": True,
        "fix": "3D",
        "time": "2026-11-30T20:00:00.000Z",
        "time_error_s": 0.005,
        "satellites_used": 9,
    }


def test_gpsd_absent_or_silent_is_none() -> None:
    import socket

    from ekos_occult.night.timesync import read_gpsd

    free = socket.create_server(("127.0.0.1", 0))
    port = free.getsockname()[1]
    free.close()  # nothing listens there now: refused
    assert read_gpsd(port=port, timeout_s=0.5) is None
    silent = _FakeGpsd(None, banner=False)  # accepts, says nothing: the timeout ends it
    try:
        assert read_gpsd(port=silent.port, timeout_s=0.3) is None
    finally:
        silent.close()


def test_gpsd_sky_without_usat_counts_used_satellites() -> None:
    from ekos_occult.night.timesync import summarise_gpsd

    got = summarise_gpsd(
        [
            {"class": "TPV", "mode": 1},
            {"class": "SKY", "satellites": [{"used": True}, {"used": False}, {"used": True}]},
        ]
    )
    assert got is not None and got["fix"] == "no fix" and got["satellites_used"] == 2
    assert got["pps"] is False and got["release"] is None and got["devices"] == []
    assert summarise_gpsd([{"class": "ERROR"}, {"nothing": 1}]) is None


def test_reader_journals_gpsd_beside_the_kernel_and_check_shows_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from ekos_occult.app.check import clock_verdict
    from ekos_occult.night import timesync

    fake = _FakeGpsd(GPS_REPLIES)
    real = timesync.read_gpsd
    monkeypatch.setattr(timesync, "read_gpsd", lambda: real(port=fake.port, timeout_s=3.0))
    try:
        clock = KernelClockReader(chrony=False).read()
    finally:
        fake.close()
    assert clock.detail is not None and clock.detail["gpsd"]["satellites_used"] == 9
    assert clock.to_dict()["detail"] == {"gpsd": clock.detail["gpsd"]}  # check --json clock
    verdict = clock_verdict(clock, 1e9)
    assert "; gpsd: 3D fix, 9 satellites used, PPS (/dev/ttyACM0)" in verdict.detail
    assert "chrony" not in verdict.detail
    none = KernelClockReader(chrony=False, gpsd=False).read()
    assert none.detail is None
