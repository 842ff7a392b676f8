"""Golden comparison: sample_sequences/ must match what the templates render today.

Compared by structure (elements, attributes, text; not whitespace or formatting). When a
template changes on purpose, regenerate with ``python -m ekos_occult.ekosfiles.render_samples``.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import pytest
from lxml import etree

from ekos_occult.ekosfiles.formats import FORMATS
from ekos_occult.ekosfiles.render_check import check_rendered
from ekos_occult.ekosfiles.render_samples import (
    SAMPLE_CONFIG,
    SAMPLE_CSV,
    SAMPLES_DIR,
    output_dir,
    render_samples,
)
from ekos_occult.ekosfiles.rendered import RenderedNight
from ekos_occult.settings import load_settings

REGENERATE = (
    "regenerate with `python -m ekos_occult.ekosfiles.render_samples` if the change is intended"
)

Tree = tuple[str, tuple[tuple[str, str], ...], str, tuple["Tree", ...]]


def structure(text: str) -> Tree:
    """An element tree as nested tuples: tag, sorted attributes, stripped text, children."""

    def walk(node: etree._Element) -> Tree:
        attrs = tuple(sorted((str(k), str(v)) for k, v in node.attrib.items()))
        return (str(node.tag), attrs, (node.text or "").strip(), tuple(walk(c) for c in node))

    return walk(etree.fromstring(text.encode("utf-8")))


@pytest.fixture(scope="module")
def rendered() -> dict[str, RenderedNight]:
    return render_samples(SAMPLES_DIR)


def committed_files(version: str) -> set[PurePosixPath]:
    root = output_dir(SAMPLES_DIR, version)
    return {PurePosixPath(p.relative_to(root).as_posix()) for p in root.rglob("*.es[lq]")}


@pytest.mark.parametrize("version", FORMATS)
def test_samples_have_exactly_the_rendered_files(
    rendered: dict[str, RenderedNight], version: str
) -> None:
    expected = {f.relpath for f in rendered[version].files}
    assert committed_files(version) == expected, REGENERATE


@pytest.mark.parametrize("version", FORMATS)
def test_samples_match_the_templates(rendered: dict[str, RenderedNight], version: str) -> None:
    root = output_dir(SAMPLES_DIR, version)
    for file in rendered[version].files:
        committed = (root / file.relpath).read_text(encoding="utf-8")
        assert structure(committed) == structure(file.text), f"{file.relpath}: {REGENERATE}"


@pytest.mark.parametrize("version", FORMATS)
def test_committed_samples_pass_the_parse_back_check(
    rendered: dict[str, RenderedNight], version: str
) -> None:
    # The committed texts (not only today's rendering) satisfy the checker against the plan.
    night = rendered[version]
    root = output_dir(SAMPLES_DIR, version)
    schedule = type(night.schedule)(
        night.schedule.relpath, (root / night.schedule.relpath).read_text(encoding="utf-8")
    )
    sequences = tuple(
        type(f)(f.relpath, (root / f.relpath).read_text(encoding="utf-8")) for f in night.sequences
    )
    committed = type(night)(**{**night.__dict__, "schedule": schedule, "sequences": sequences})
    check_rendered(committed, load_settings(SAMPLES_DIR / SAMPLE_CONFIG))


def test_sample_night_contents(rendered: dict[str, RenderedNight]) -> None:
    night = rendered["3.6"]
    assert night.night == "2023-02-08"
    assert [job.name for job in night.jobs] == [
        "(41) Daphne 2023-02-08",
        "star1 2023-02-08",
        "UCAC4 419-034507 2023-02-08",
        "(2) Pallas & HIP 27321 2023-02-09",
        "O'Neill's star_.._test 2023-02-09",
    ]
    assert {e.name: e.reason.value for e in night.plan.skipped if e.reason} == {
        "southern star": "altitude",
        "daytime": "sun",
    }
    # star1's job starts 23:24:00 UTC = 00:24:00 in KStars' UTC+01:00 location.
    assert night.jobs[1].start_at == "2023-02-09T00:24:00"
    noted = {e.name: e.notes for e in night.plan.events if e.notes}
    assert list(noted) == ["UCAC4 419-034507"]
    assert list({e.name for e in rendered["3.7"].plan.events if e.notes}) == ["star1"]


def test_sample_csv_is_the_classic_format() -> None:
    header = (SAMPLES_DIR / SAMPLE_CSV).read_text(encoding="utf-8").splitlines()[0]
    assert header == "name,ra,dec,start,duration,mag"


def test_regeneration_command_writes_the_same_files(tmp_path: Path) -> None:
    from ekos_occult.ekosfiles.render_samples import main

    for name in (SAMPLE_CSV, SAMPLE_CONFIG):
        (tmp_path / name).write_bytes((SAMPLES_DIR / name).read_bytes())
    stale = output_dir(tmp_path, "3.6") / "sequences" / "old_job.esq"
    stale.parent.mkdir(parents=True)
    stale.write_text("<SequenceQueue/>", encoding="utf-8")
    assert main([str(tmp_path)]) == 0
    assert not stale.exists()
    for version in FORMATS:
        for path in output_dir(SAMPLES_DIR, version).rglob("*.es[lq]"):
            rel = path.relative_to(SAMPLES_DIR)
            assert (tmp_path / rel).read_text(encoding="utf-8") == path.read_text(encoding="utf-8")
