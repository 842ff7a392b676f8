"""The golden reports: a synthetic recording with a known D and R (and one with no event),
reduced, then reported for the small station in ``tests/data/report/station.toml`` with the
prediction ``tests/data/report/prediction.xml``.

``python tests/report_golden.py`` rewrites ``tests/data/report/{positive,negative}.*`` (review
the diff before committing); the tests compare fresh reports with them.
"""

from __future__ import annotations

import json
import sys
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent  # tests/
sys.path.insert(0, str(HERE))

from synthetic import Recording, Scene, make_recording  # noqa: E402

from ekos_occult.app.report import ReportOutcome, ReportRequest, make_reports  # noqa: E402
from ekos_occult.reduce.reduction import ReduceOptions, reduce_file, to_dict  # noqa: E402
from ekos_occult.settings import load_settings  # noqa: E402

DATA = HERE / "data" / "report"
STATION = DATA / "station.toml"
PREDICTION = DATA / "prediction.xml"
NOW = datetime(2024, 3, 20, 12, 0, tzinfo=timezone.utc)
SCENES = {"positive": Scene(), "negative": Scene(d=None, r=None)}
FORMATS = ("iota-es", "occult-xml", "text")
SUFFIX = {"iota-es": ".iota-es.txt", "occult-xml": ".occult.xml", "text": ".report.txt"}


@dataclass(frozen=True)
class Made:
    """One reported synthetic event: the recording, reduce's JSON, and what report wrote."""

    recording: Recording
    result: dict[str, object]
    outcome: ReportOutcome
    texts: dict[str, str]


def make(kind: str, folder: Path) -> Made:
    """Record, reduce and report the ``kind`` ("positive"/"negative") event in ``folder``."""
    rec = make_recording(folder / f"{kind}.ser", SCENES[kind])
    result = to_dict(reduce_file(rec.path, ReduceOptions()))
    result["file"] = rec.path.name  # relative to the JSON, as a moved night folder would have
    source = folder / f"{kind}.json"
    source.write_text(json.dumps(result, indent=2), encoding="utf-8")
    req = ReportRequest(source, FORMATS, PREDICTION, folder / "out")
    outcome = make_reports(req, load_settings(STATION), NOW)
    files = outcome.written[0].files
    texts = {
        fmt: next(f for f in files if f.name.endswith(SUFFIX[fmt])).read_text(encoding="utf-8")
        for fmt in FORMATS
    }
    return Made(rec, result, outcome, texts)


def golden_path(kind: str, fmt: str) -> Path:
    return DATA / f"{kind}{SUFFIX[fmt]}"


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        for kind in SCENES:
            made = make(kind, Path(tmp))
            for fmt, text in made.texts.items():
                golden_path(kind, fmt).write_text(text, encoding="utf-8")
                print(f"wrote {golden_path(kind, fmt)}")
