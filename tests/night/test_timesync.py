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
