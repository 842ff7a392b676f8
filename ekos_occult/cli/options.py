"""Command-line options shared by several subcommands, declared once.

Flags default to ``None`` so that "not given" can be told from a value: ``cli`` then lets the
config file's value stand (defaults < TOML < flags).
"""

from __future__ import annotations

import argparse
from datetime import datetime, timezone

from ekos_occult.errors import ConfigError

__all__ = [
    "add_site_option",
    "add_rule_options",
    "add_now_option",
    "add_bus_option",
    "add_kstars_version_option",
    "add_out_option",
    "parse_now",
]


def add_site_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--site",
        metavar="LAT,LON,ELEV",
        help="observing site: geodetic latitude and longitude in degrees (east positive) and "
        "elevation in metres; default from the config file [site]",
    )


def add_rule_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("plan rules (defaults from the config file [plan])")
    g.add_argument(
        "--lead",
        type=float,
        metavar="SECONDS",
        dest="lead_s",
        help="Ekos job starts this long before the recording (default 300)",
    )
    g.add_argument(
        "--min-altitude",
        type=float,
        metavar="DEG",
        dest="min_altitude_deg",
        help="lowest star altitude during the recording (default 20)",
    )
    g.add_argument(
        "--max-sun-altitude",
        type=float,
        metavar="DEG",
        dest="max_sun_altitude_deg",
        help="highest Sun altitude during the recording (default -12)",
    )


def add_now_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--now",
        metavar="ISO",
        help="plan as if it were this UTC time (ISO 8601; no offset means UTC); "
        "default: the system clock",
    )


def add_bus_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--bus",
        metavar="ADDRESS",
        help="D-Bus session bus address of KStars; default $DBUS_SESSION_BUS_ADDRESS, "
        "else a running `ekos-occult sandbox`",
    )


def add_kstars_version_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--kstars-version",
        choices=("auto", "3.6", "3.7"),
        dest="kstars_version",
        help="Ekos file format: 3.6 (Debian/Ubuntu) or 3.7 (3.7 and newer, StellarMate); "
        "auto detects the running KStars where possible",
    )


def add_out_option(p: argparse.ArgumentParser, help_text: str) -> None:
    p.add_argument("--out", metavar="DIR", dest="out_dir", help=help_text)


def parse_now(text: str | None) -> datetime | None:
    """Parse ``--now``: ISO 8601, naive means UTC. Returns None when not given.

    Raises:
        ConfigError: when the text is not ISO 8601.
    """
    if text is None:
        return None
    try:
        t = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise ConfigError(
            f"--now: {text!r} is not an ISO 8601 time (e.g. 2026-02-09T21:30:00)."
        ) from exc
    if t.tzinfo is None:
        return t.replace(tzinfo=timezone.utc)
    return t.astimezone(timezone.utc)
