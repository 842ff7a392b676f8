"""Regenerate ``sample_sequences/`` from its events CSV and config (a developer tool).

Run from a source checkout::

    python -m ekos_occult.ekosfiles.render_samples            # rewrites
    sample_sequences/kstars-3.6, -3.7

The samples are rendered for a fixed "now", a fixed KStars time zone and a placeholder night
folder (the default folder of a user called ``observer``), so they do not depend on the machine
that regenerates them. ``tests/test_samples.py`` renders them again the same way and fails if the
committed files drift from the templates.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path, PurePosixPath

from ekos_occult.ekosfiles.formats import FORMATS
from ekos_occult.ekosfiles.render import render_night
from ekos_occult.ekosfiles.rendered import RenderedNight
from ekos_occult.settings import load_settings

__all__ = [
    "SAMPLES_DIR",
    "SAMPLE_CSV",
    "SAMPLE_CONFIG",
    "SAMPLE_NOW",
    "SAMPLE_TZ",
    "SAMPLE_NIGHT_DIR",
    "output_dir",
    "render_samples",
    "main",
]

SAMPLES_DIR = Path(__file__).resolve().parents[2] / "sample_sequences"
SAMPLE_CSV = "tonight.csv"
SAMPLE_CONFIG = "config.toml"
SAMPLE_NOW = datetime(2023, 2, 8, 18, 0, tzinfo=timezone.utc)
SAMPLE_TZ = timezone(timedelta(hours=1))  # CET: KStars set to a site in central Europe
SAMPLE_NIGHT_DIR = PurePosixPath("/home/observer/.local/share/ekos-occult/nights/2023-02-08")


def output_dir(folder: Path, version: str) -> Path:
    """Where the files for one format live inside the samples folder."""
    return folder / f"kstars-{version}"


def render_samples(folder: Path = SAMPLES_DIR) -> dict[str, RenderedNight]:
    """Plan the sample CSV with the sample config and render it for every format.

    Returns:
        The rendered night per format (``"3.6"``, ``"3.7"``); nothing is written.
    """
    from ekos_occult.plan.catalog import read_events
    from ekos_occult.plan.planner import make_plan

    settings = load_settings(folder / SAMPLE_CONFIG)
    csv_path = folder / SAMPLE_CSV
    catalog = read_events(csv_path.read_text(encoding="utf-8"), str(csv_path))
    plan = make_plan(catalog.events, settings.require_site(), SAMPLE_NOW, settings.rules)
    return {
        version: render_night(
            plan, settings, version=version, night_dir=SAMPLE_NIGHT_DIR, tz=SAMPLE_TZ
        )
        for version in FORMATS
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Rewrite the rendered samples; ``argv[0]`` may name another samples folder."""
    from ekos_occult.files import write_tree
    from ekos_occult.settings import configure_astropy_offline

    args = list(sys.argv[1:] if argv is None else argv)
    folder = Path(args[0]) if args else SAMPLES_DIR
    configure_astropy_offline()
    for version, rendered in render_samples(folder).items():
        target = output_dir(folder, version)
        for stale in target.rglob("*.es[lq]") if target.exists() else ():
            stale.unlink()
        written = write_tree(target, [(f.relpath, f.text) for f in rendered.files])
        print(f"KStars {version}: {len(written)} files in {target}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
