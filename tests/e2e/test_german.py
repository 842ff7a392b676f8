"""End to end on the real KStars 3.6.2 running in German (`sandbox start --lang de`).

A German user's KStars writes its Ekos log in German: "Die INDI-Dienste wurden auf Port 47.147
gestartet." instead of "INDI services started on port 47147." (OBSERVED), so the INDI server is
found from KStars' own indiserver child process, never from an English log line, and
``INDI.sendProperty`` (which can crash KStars) is not used. The night is run as a user would call
it, with ``--bus ADDRESS`` only: the settings checked are those of the KStars on that bus (its
process' HOME), not the caller's. Two events near the zenith must both be recorded.

One sandbox per network namespace: the session's (English) sandbox is stopped for this test and
started again afterwards, as in test_sandbox.py.
"""

from __future__ import annotations

import asyncio
import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from e2e_helpers import START_TIMEOUT_S, Sandbox, start_sandbox, stop_and_check
from night_helpers import TRACK_ONLY, event_lines

from ekos_occult import cli
from ekos_occult.kstars import sandbox as sandbox_mod
from ekos_occult.kstars.client import EkosClient
from ekos_occult.model import Site
from ekos_occult.video.ser import open_ser

DURATION_S = 10.0
EXPOSURE_S = 0.1
ROI = (0, 0, 320, 240)


def _zenith_events_csv(folder: Path, site: Site, now: datetime) -> tuple[Path, list[datetime]]:
    """Two events 2 and 5 minutes ahead, on points 3 degrees from the zenith at their start."""
    import astropy.units as u
    from astropy.coordinates import EarthLocation
    from astropy.time import Time

    loc = EarthLocation(lat=site.lat_deg * u.deg, lon=site.lon_deg * u.deg)
    lines = ["name,ra,dec,start,duration,mag,exposure"]
    starts = []
    for i, offset in enumerate((120, 300)):
        start = (now + timedelta(seconds=offset)).replace(microsecond=0)
        lst = Time(start).sidereal_time("apparent", longitude=loc.lon).deg
        dec = site.lat_deg + (3.0 if i == 0 else -3.0)
        lines.append(
            f"Zenit {i + 1},{lst:.4f},{dec:.4f},{start:%Y-%m-%dT%H:%M:%S},{DURATION_S:g},"
            f"9.0,{EXPOSURE_S:g}"
        )
        starts.append(start)
    path = folder / "events.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path, starts


async def _ekos_log(bus: str) -> list[str]:
    async with EkosClient(bus, timeout_s=10.0) as client:
        return await client.ekos_log()


@pytest.mark.timeout(900)
def test_german_kstars_records_a_two_event_night_near_the_zenith(
    sandbox_session: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    session = sandbox_mod.read_state(sandbox_session.state_dir)
    assert session is not None
    stop_and_check(session)
    german_dir = tmp_path / "sbx-de"
    try:
        state, _ = asyncio.run(
            sandbox_mod.start(
                german_dir,
                sandbox_mod.DEFAULT_SITE,
                dict(os.environ),
                timeout_s=START_TIMEOUT_S,
                lang="de",
            )
        )
        log = asyncio.run(_ekos_log(state.bus_address))
        assert any("Die INDI-Dienste wurden auf Port" in line for line in log), log
        assert not any("INDI services started" in line for line in log)

        config = tmp_path / "config.toml"
        config.write_text(TRACK_ONLY, encoding="utf-8")
        csv, starts = _zenith_events_csv(tmp_path, state.site, datetime.now(timezone.utc))
        out = tmp_path / "night"
        site = state.site
        rc = cli.main(
            [
                "--config",
                str(config),
                "run",
                str(csv),
                "--bus",
                state.bus_address,
                "--site",
                f"{site.lat_deg},{site.lon_deg},{site.elevation_m}",
                "--out",
                str(out),
                "--lead",
                "60",
                "--min-altitude",
                "20",
                "--max-sun-altitude",
                "90",
                "--roi",
                ",".join(str(v) for v in ROI),
            ]
        )
        captured = capsys.readouterr()
        assert rc == 0, captured.err
        assert "INDI.sendProperty" not in captured.err  # the INDI server was found
        lines = event_lines(out)
        assert [(e["name"], e["outcome"]) for e in lines] == [
            ("Zenit 1", "recorded"),
            ("Zenit 2", "recorded"),
        ], captured.err
        for line, start in zip(lines, starts, strict=True):
            ser = open_ser(line["file"])  # a valid SER: header, frames, timestamp trailer
            assert (ser.header.width, ser.header.height) == ROI[2:]
            assert ser.n_frames == line["frames"] and ser.frame_time(ser.n_frames - 1) is not None
            first = ser.frame_time(0)
            assert first is not None and abs((first - start).total_seconds()) < 1.0
            # The frame rate is test_run.py's criterion (>= 90 %). This test is about the
            # language; on a 2-core machine shared with other KStars sandboxes the CCD
            # Simulator drops frames (OBSERVED: 99, 84, 81, 51 of 100), so half is the floor.
            assert ser.n_frames >= 0.5 * DURATION_S / EXPOSURE_S, line["warnings"]
            # INDI's own messages are not translated: its report is read in German too.
            indi = line["verified"]["indi"]
            assert line["verified"]["how"] == "on disk" and indi is not None, line["verified"]
            assert indi["finished"] and abs(indi["frames"] - ser.n_frames) <= 1, indi
    finally:
        now = sandbox_mod.read_state(german_dir)
        if now is not None:
            stop_and_check(now)
        start_sandbox(sandbox_session.state_dir, sandbox_session.site)
