"""Where a recording came from: the night journal's record of it, for reduce's timing budget
(the stamp source, the exposure, the camera and the clock when it was recorded).

Used by ``reduce`` and by ``report`` for the recordings of a night folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ekos_occult.ekosfiles.nightfolder import JOURNAL
from ekos_occult.errors import OccultError
from ekos_occult.night.journal import read_journal
from ekos_occult.reduce.timestamps import Provenance, StampKind

__all__ = ["recording_provenance"]


def recording_provenance(file: Path, journal: Path | None = None) -> Provenance | None:
    """The night journal's record of this recording (stamp source, exposure, camera, clock).

    Args:
        file: the recording.
        journal: the night journal; default: ``journal.jsonl`` in the recording's folder or the
            one above it (a night folder's ``recordings/``).

    Returns:
        None when no journal names the recording (reduce then assumes from the file alone).
    """
    if journal is None:
        for folder in (file.parent, file.parent.parent):
            if (folder / JOURNAL).is_file():
                journal = folder / JOURNAL
                break
        else:
            return None
    try:
        entries = read_journal(journal)
    except OccultError:
        return None
    found = None
    for entry in entries:
        f = entry.get("file")
        if entry.get("type") == "event" and isinstance(f, str) and Path(f).name == file.name:
            found = entry
    if found is None:
        return None
    raw = found.get("timestamps")
    stamps: dict[str, Any] = raw if isinstance(raw, dict) else {}
    kinds = {k.value: k for k in StampKind}
    source = str(stamps.get("source", found.get("timestamp_source")))
    kind = kinds.get(source, StampKind.HOST if source == "host clock" else StampKind.NONE)
    exposure = found.get("exposure_s")
    clock = found.get("clock")
    camera = stamps.get("camera")
    return Provenance(
        kind,
        float(exposure) if isinstance(exposure, (int, float)) and exposure > 0 else None,
        camera if isinstance(camera, str) and camera else None,
        clock if isinstance(clock, dict) else None,
        f"night journal {journal}",
    )
