"""INDI's own account of a recording: its messages (INDI 1.8, 1.9.9, 2.x texts) and the watch
that hears them on the INDI server's TCP port."""

from __future__ import annotations

import asyncio

import pytest

from ekos_occult.errors import EkosCommandFailed
from ekos_occult.kstars.indiwatch import RecordWatch, parse_record_messages

pytestmark = pytest.mark.timeout(30)


def test_the_file_and_frames_of_the_19_and_2x_messages() -> None:
    report = parse_record_messages(
        [
            "[INFO] Starting video record (Duration): 2.1 secs.",
            "[INFO] Record file is /home/sm/rec/Vega-20261121T200000Z_2026-11-21@20-00-00.ser",
            "[WARNING] Frame buffer is full, skipping frame...",
            "[WARNING] Frame buffer is full, skipping frame...",
            "[INFO] Waiting for all buffered frames to be recorded",
            "[INFO] Record Duration: 2100.5 millisec / 19 frames",
        ]
    )
    assert report.file == "/home/sm/rec/Vega-20261121T200000Z_2026-11-21@20-00-00.ser"
    assert (report.frames, report.duration_s, report.skipped) == (19, 2.1005, 2)
    assert report.finished and not report.errors


def test_the_older_closing_message_counts_too() -> None:
    report = parse_record_messages(
        ["Record file is /tmp/a.ser", "Record Duration(millisec): 1000 -- Frame count: 10"]
    )
    assert (report.frames, report.duration_s, report.finished) == (10, 1.0, True)


def test_an_earlier_recordings_closing_message_does_not_count() -> None:
    report = parse_record_messages(
        ["Record Duration: 5 millisec / 99 frames", "Record file is /tmp/b.ser"]
    )
    assert report.file == "/tmp/b.ser" and report.frames is None and not report.finished


def test_errors_are_kept() -> None:
    report = parse_record_messages(
        ["[INFO] Record file is /x/y.ser", "[ERROR] Recording failed.", "other text"]
    )
    assert report.errors == ("[ERROR] Recording failed.",)


def test_the_watch_hears_messages_fps_and_the_switch_for_its_camera_only() -> None:
    async def scenario() -> tuple[str, object, object]:
        asked: list[bytes] = []

        async def server(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            asked.append(await reader.readuntil(b"/>"))
            writer.write(
                b'<message device="Other" message="Record file is /nope.ser"/>\n'
                b'<setNumberVector device="CCD" name="FPS" state="Idle">'
                b'<oneNumber name="EST_FPS">9.9</oneNumber><oneNumber name="AVG_FPS">10.0'
                b"</oneNumber></setNumberVector>\n"
                b'<message device="CCD" timestamp="t" message="[INFO] Record file is /r/a.ser"/>'
            )
            await writer.drain()
            await asyncio.sleep(0.05)  # the closing message comes a moment later, in pieces
            writer.write(b'<message device="CCD" message="[INFO] Record Duration: 10')
            await writer.drain()
            writer.write(b'00 millisec / 10 frames"/>\n')
            await writer.drain()
            await reader.read()  # until the watch hangs up
            writer.close()
            await writer.wait_closed()

        srv = await asyncio.start_server(server, "127.0.0.1", 0)
        port = srv.sockets[0].getsockname()[1]
        watch = RecordWatch("127.0.0.1", port, "CCD", timeout_s=2.0)
        await watch.start()
        report = await watch.wait_finished(5.0)
        await watch.close()
        srv.close()
        await srv.wait_closed()
        return asked[0].decode(), report, watch.report()

    asked, report, after = asyncio.run(scenario())
    assert 'device="CCD"' in asked and asked.startswith("<getProperties")
    assert report.file == "/r/a.ser" and report.frames == 10 and report.avg_fps == 10.0  # type: ignore[attr-defined]
    assert after.connected  # type: ignore[attr-defined]


def test_a_watch_that_cannot_connect_says_so() -> None:
    async def scenario() -> None:
        srv = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        port = srv.sockets[0].getsockname()[1]
        srv.close()
        await srv.wait_closed()
        with pytest.raises(EkosCommandFailed, match="Cannot listen to the INDI server"):
            await RecordWatch("127.0.0.1", port, "CCD", timeout_s=1.0).start()

    asyncio.run(scenario())


def test_a_silent_server_gives_an_unfinished_report_after_the_wait() -> None:
    async def scenario() -> object:
        async def server(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.read()  # never answers; until the watch hangs up
            writer.close()
            await writer.wait_closed()

        srv = await asyncio.start_server(server, "127.0.0.1", 0)
        watch = RecordWatch("127.0.0.1", srv.sockets[0].getsockname()[1], "CCD")
        await watch.start()
        report = await watch.wait_finished(0.3)
        await watch.close()
        srv.close()
        await srv.wait_closed()
        return report

    report = asyncio.run(scenario())
    assert report.connected and not report.finished and report.frames is None  # type: ignore[attr-defined]
