"""What INDI itself says about a recording: its messages and properties, read as an INDI client.

INDI's stream manager (``libindidriver``; the same texts in 1.9.9, read from Debian's library,
and in 2.x, read from indilib/indi ``libs/indibase/stream/streammanager.cpp``) publishes no
"frames recorded" property. What it does publish, to every client of its server:

- the message ``Record file is <path>`` when the recording opens its file: the path *after*
  INDI expanded ``_D_``/``_H_``/``_T_`` (``RECORD_FILE`` itself keeps the pattern);
- ``Record Duration: <ms> millisec / <n> frames`` when the recording closes (older INDI, 1.8:
  ``Record Duration(millisec): <ms> -- Frame count: <n>``): the frames that reached the recorder
  (frames dropped by ``STREAMING_DIVISOR_VALUE`` or skipped for a full buffer are not counted);
- ``Frame buffer is full, skipping frame...`` once per frame skipped;
- ``Recording failed.``, ``Can not open record file: ...``, ``Can not create record directory
  ...``, ``Failed to start recording.`` on errors;
- the ``FPS`` number vector (``EST_FPS``, ``AVG_FPS``: the stream's measured rate) and the
  ``RECORD_STREAM`` switch's state (Busy while recording; Idle when done; Alert on failure).

INDI's messages are not translated. :class:`RecordWatch` connects to the INDI server (Ekos' own
local one, or the remote host's in Ekos' remote mode), asks for the camera's properties and
collects the above while a recording runs; :func:`parse_record_messages` is the pure reading of
the message texts. Used to judge a recording written on another host, whose file cannot be read
here, and journaled beside the on-disk check otherwise.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

from lxml import etree

from ekos_occult.errors import EkosCommandFailed

__all__ = ["RecordReport", "RecordWatch", "parse_record_messages"]

_FILE = re.compile(r"Record file is (.+?)\s*$")
_END = (
    re.compile(r"Record Duration: ([0-9.eE+-]+) millisec / (\d+) frames"),  # 1.9.x, 2.x
    re.compile(r"Record Duration\(millisec\): ([0-9.eE+-]+) -- Frame count: (\d+)"),  # 1.8
)
_SKIPPED = "Frame buffer is full, skipping frame"
_ERRORS = (
    "Recording failed",
    "Can not open record file",
    "Can not create record directory",
    "Failed to start recording",
)


@dataclass(frozen=True)
class RecordReport:
    """INDI's own account of one recording.

    Attributes:
        file: the file INDI opened, as a path on the INDI host (``Record file is``); None when
            the message was not seen.
        frames: the frames INDI recorded (its closing message); None before it came.
        duration_s: the recording's length by INDI's count (closing message), seconds.
        skipped: frames INDI skipped because its frame buffer was full.
        errors: INDI's error messages about the recording.
        avg_fps: the last non-zero ``FPS.AVG_FPS`` seen while recording (frames per second).
        finished: the closing message came.
        connected: the watch was connected to the INDI server (False: nothing could be seen).
    """

    file: str | None = None
    frames: int | None = None
    duration_s: float | None = None
    skipped: int = 0
    errors: tuple[str, ...] = ()
    avg_fps: float | None = None
    finished: bool = False
    connected: bool = True

    def to_dict(self) -> dict[str, object]:
        """JSON-ready, for the journal."""
        return {
            "file": self.file,
            "frames": self.frames,
            "duration_s": self.duration_s,
            "skipped": self.skipped,
            "errors": list(self.errors),
            "avg_fps": self.avg_fps,
            "finished": self.finished,
            "connected": self.connected,
        }


def parse_record_messages(messages: Sequence[str]) -> RecordReport:
    """INDI's account of a recording from its device messages, oldest first (pure).

    The last ``Record file is`` counts (a recording opens one file); a closing message before
    it belongs to an earlier recording and is ignored.
    """
    report = RecordReport()
    for text in messages:
        m = _FILE.search(text)
        if m:
            report = RecordReport(file=m.group(1), errors=report.errors)
            continue
        for pattern in _END:
            end = pattern.search(text)
            if end and report.file is not None:
                report = replace(
                    report,
                    frames=int(end.group(2)),
                    duration_s=float(end.group(1)) / 1000.0,
                    finished=True,
                )
        if _SKIPPED in text:
            report = replace(report, skipped=report.skipped + 1)
        if any(e in text for e in _ERRORS):
            report = replace(report, errors=(*report.errors, text.strip()))
    return report


class RecordWatch:
    """An INDI client of the server that writes the recording, listening to one camera.

    Args:
        host, port: the INDI server (Ekos' local one, or the remote host's).
        device: the camera's INDI name.
        timeout_s: the longest connecting may take.
    """

    def __init__(self, host: str, port: int, device: str, *, timeout_s: float = 5.0) -> None:
        self.host, self.port, self.device, self.timeout_s = host, port, device, timeout_s
        self._messages: list[str] = []
        self._fps: float | None = None
        self._light: str | None = None
        self._reader: asyncio.Task[None] | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._changed = asyncio.Event()
        self._connected = False

    async def start(self) -> None:
        """Connect and ask for the camera's properties (messages follow from then on).

        Raises:
            EkosCommandFailed: the server cannot be reached within ``timeout_s``.
        """
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(self.host, self.port), self.timeout_s
            )
        except (OSError, asyncio.TimeoutError) as exc:
            raise EkosCommandFailed(
                f"Cannot listen to the INDI server {self.host}:{self.port}: {exc}."
            ) from exc
        ask = etree.Element("getProperties", version="1.7", device=self.device)
        writer.write(bytes(etree.tostring(ask)) + b"\n")
        self._writer, self._connected = writer, True
        self._reader = asyncio.ensure_future(self._read(reader))

    async def _read(self, reader: asyncio.StreamReader) -> None:
        parser = etree.XMLPullParser(events=("start", "end"), huge_tree=True)
        parser.feed(b"<indi>")
        depth = 0
        try:
            while chunk := await reader.read(65536):
                parser.feed(chunk)
                for event, element in parser.read_events():
                    if event == "start":
                        depth += 1
                        continue
                    depth -= 1
                    if depth == 1:  # a whole top-level INDI element (depth 0 is <indi>)
                        self._take(element)
                        element.clear()
                        parent = element.getparent()
                        if parent is not None:
                            parent.remove(element)
        except (OSError, etree.XMLSyntaxError):
            pass  # the server went away or sent garbage: what was seen stays
        finally:
            self._changed.set()

    def _take(self, element: etree._Element) -> None:
        if element.get("device") not in (None, self.device):
            return
        tag, name = element.tag, element.get("name")
        if tag == "message" and element.get("message"):
            self._messages.append(str(element.get("message")))
        if name == "RECORD_STREAM" and tag in ("setSwitchVector", "defSwitchVector"):
            self._light = element.get("state")
        if name == "FPS" and tag in ("setNumberVector", "defNumberVector"):
            for one in element:
                if one.get("name") == "AVG_FPS":
                    try:
                        value = float((one.text or "").strip())
                    except ValueError:
                        continue
                    if value > 0:
                        self._fps = value
        if element.get("message") and tag != "message":
            self._messages.append(str(element.get("message")))  # a vector's own message
        self._changed.set()

    def report(self) -> RecordReport:
        """What INDI said so far."""
        return replace(
            parse_record_messages(self._messages), avg_fps=self._fps, connected=self._connected
        )

    async def wait_finished(self, timeout_s: float) -> RecordReport:
        """INDI's account once its closing message came, or as it stands after ``timeout_s``
        (INDI sends the closing message just after the recording's switch went idle)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while not self.report().finished and self._reader is not None:
            remaining = deadline - loop.time()
            if remaining <= 0 or self._reader.done():
                break
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except asyncio.TimeoutError:
                break
        return self.report()

    async def close(self) -> None:
        """Disconnect (twice is harmless)."""
        writer, self._writer = self._writer, None
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.cancel()
            try:
                await reader
            except (asyncio.CancelledError, Exception):  # noqa: BLE001 - closing only
                pass
        if writer is not None:
            writer.close()
            try:
                await asyncio.wait_for(writer.wait_closed(), self.timeout_s)
            except (OSError, asyncio.TimeoutError):
                pass
