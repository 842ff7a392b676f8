"""Command-line options shared by several subcommands, declared once, and the parser class.

Flags default to ``None`` so that "not given" can be told from a value: ``cli`` then lets the
config file's value stand (defaults < TOML < flags).

The values themselves (one argparse ``type=`` per kind, checked where it enters) are in
:mod:`ekos_occult.cli.values`; this module declares the flags that several subcommands share and
turns parsed arguments into the use cases' option records.
:class:`ArgumentParser` reads values that start with ``-`` (``--site -33.9,18.4,10``,
``--target -5,-5``, ``--kstars-tz -05:00``) as values, not as options.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from ekos_occult.cli.values import (
    altitude,
    input_file,
    input_path,
    number,
    output_dir,
    seconds,
    site,
    text,
    utc_time,
)
from ekos_occult.ekosfiles.formats import FORMAT_SETTINGS
from ekos_occult.errors import ConfigError
from ekos_occult.settings import LIMITS

if TYPE_CHECKING:
    from ekos_occult.app.planning import PlanOptions
    from ekos_occult.plan.predictions import PredictionOptions

__all__ = [
    "ArgumentParser",
    "EVENTS_HELP",
    "add_plan_arguments",
    "add_prediction_options",
    "add_kstarsrc_option",
    "plan_options",
    "prediction_options",
    "out_dir",
    "say",
    "add_site_option",
    "add_rule_options",
    "add_now_option",
    "add_bus_option",
    "add_kstars_version_option",
    "add_out_option",
    "parse_now",
]

# A value, not an option: '-' then a digit, '.digit', inf or nan (a southern latitude, a western
# offset, -inf that the type then refuses with its own message). No option starts like that.
_VALUE_WITH_MINUS = re.compile(r"^-(?:\.?\d|inf|nan)", re.IGNORECASE)


class ArgumentParser(argparse.ArgumentParser):
    """argparse that reads ``-33.9,18.4,10`` or ``-5,-5`` after an option as its value.

    Plain argparse only takes ``-5`` or ``-0.5`` as a value and says "expected one argument" for
    anything else starting with ``-``. Subcommand parsers are made of this class too (argparse's
    ``add_subparsers`` uses the parent's class).
    """

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._negative_number_matcher = _VALUE_WITH_MINUS

    def error(self, message: str) -> NoReturn:
        """``prog: error: --flag: what is wrong`` and where help is, on stderr; exit 2."""
        self.exit(
            2,
            f"{self.prog}: error: {message.removeprefix('argument ')}\n"
            f"(`{self.prog} --help` lists the arguments)\n",
        )


def add_site_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--site",
        metavar="LAT,LON[,ELEV]",
        type=site,
        help="the observing site: geodetic latitude and longitude in degrees (east positive; "
        "0-360 also read) and, optionally, the elevation in metres (height above the "
        "ellipsoid; default 0), e.g. -33.9,18.4,10 or -33.9,18.4; default from the config "
        "file [station]",
    )


def _limit(key: str, unit: str, name: str) -> Callable[[str], float]:
    lo, hi = LIMITS[key]
    return number(lo, hi, unit, name=name)


def add_rule_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("plan rules (defaults from the config file [plan])")
    g.add_argument(
        "--lead",
        type=_limit("lead_s", " s", "number of seconds"),
        metavar="SECONDS",
        dest="lead_s",
        help="the Ekos job starts this long before the recording (default 300)",
    )
    g.add_argument(
        "--min-altitude",
        type=altitude,
        metavar="DEG",
        dest="min_altitude_deg",
        help="lowest star altitude during the recording (default 20)",
    )
    g.add_argument(
        "--max-sun-altitude",
        type=altitude,
        metavar="DEG",
        dest="max_sun_altitude_deg",
        help="highest Sun altitude during the recording (default -12)",
    )


def add_now_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--now",
        metavar="ISO",
        type=utc_time,
        help="plan as if it were this UTC time (ISO 8601; no offset means UTC); "
        "default: the system clock",
    )


def add_bus_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--bus",
        metavar="ADDRESS",
        type=text,
        help="the D-Bus session bus address of KStars; default $DBUS_SESSION_BUS_ADDRESS, "
        "else a running `ekos-occult sandbox`",
    )


def add_kstars_version_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--kstars-version",
        choices=FORMAT_SETTINGS,
        dest="kstars_version",
        help="the Ekos file format: 3.6 (Debian/Ubuntu) or 3.7 (3.7 and newer, StellarMate); "
        "auto detects the running KStars where possible",
    )


def add_out_option(p: argparse.ArgumentParser, help_text: str) -> None:
    p.add_argument("--out", metavar="DIR", dest="out_dir", type=output_dir, help=help_text)


def parse_now(value: str | datetime | None) -> datetime | None:
    """``--now`` as aware UTC: a value already read by :func:`utc_time`, or its text.

    Returns None when not given.

    Raises:
        ConfigError: when the text is not an ISO 8601 time.
    """
    if value is None or isinstance(value, datetime):
        return value
    try:
        return utc_time(value)
    except argparse.ArgumentTypeError as exc:
        raise ConfigError(f"--now: {exc}.") from None


EVENTS_HELP = (
    "the nightly events: a CSV file ('-' reads standard input), or occelmnt XML (below). "
    "CSV columns (case-insensitive): name,ra,dec,start,duration,mag - RA/Dec in decimal "
    "degrees (J2000) or sexagesimal "
    "(08:20:54.1 = hours for RA, -06:12:00), or ra_h in decimal hours; start = UTC recording "
    "start, or epoch/time = predicted central time (the recording is centred on it); duration "
    "in seconds. Optional: priority, exposure, event_duration, asteroid, id. Timestamps are "
    "ISO 8601: without an offset they are UTC, with an offset they are converted to UTC. "
    "Or Occult/OccultWatcher occelmnt predictions: an XML file (or a folder of them), each "
    "event centred on this station's local central time (see `ekos-occult predictions`)"
)


def add_plan_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the events file, ``--now``, ``--skip-invalid``, ``--site`` and the rule options."""
    parser.add_argument("events", metavar="EVENTS", type=input_path, help=EVENTS_HELP)
    add_now_option(parser)
    parser.add_argument(
        "--skip-invalid",
        action="store_true",
        dest="skip_invalid",
        help="plan the valid rows and list the invalid ones (status 'invalid') "
        "instead of stopping with the list of problems",
    )
    add_site_option(parser)
    add_rule_options(parser)
    add_prediction_options(parser)


def add_prediction_options(parser: argparse.ArgumentParser) -> None:
    """``--max-offset``, ``--path-sigmas`` and ``--time-uncertainty`` (occelmnt input only)."""
    g = parser.add_argument_group("occelmnt predictions (when the events file is occelmnt XML)")
    g.add_argument(
        "--max-offset",
        type=number(0.0, 50000.0, " km", name="distance in km"),
        metavar="KM",
        dest="max_offset_km",
        help="keep only events whose centre line passes within KM of the station",
    )
    g.add_argument(
        "--path-sigmas",
        type=number(0.0, 100.0, "", name="number of sigmas"),
        metavar="N",
        dest="path_sigmas",
        help="keep only events whose path, widened by N times its 1-sigma "
        "uncertainty on each side, covers the station",
    )
    g.add_argument(
        "--time-uncertainty",
        type=seconds(0.0, 86400.0),
        metavar="SECONDS",
        dest="time_uncertainty_s",
        help="1-sigma uncertainty of the central time for the recording window "
        "(default: from the file's position uncertainty and the shadow speed)",
    )


def add_kstarsrc_option(parser: argparse.ArgumentParser) -> None:
    """``--kstarsrc PATH`` and ``--state-dir DIR`` (to find a sandbox's kstarsrc)."""
    parser.add_argument(
        "--kstarsrc",
        metavar="PATH",
        type=input_file,
        help="the settings file of KStars, kstarsrc (default: that of the KStars process on the "
        "bus, read from its HOME/XDG_CONFIG_HOME; else the sandbox's, else ~/.config/kstarsrc)",
    )
    parser.add_argument(
        "--state-dir",
        metavar="DIR",
        dest="state_dir",
        type=text,
        help="a sandbox's state directory (its bus and kstarsrc are used)",
    )


def prediction_options(args: argparse.Namespace) -> PredictionOptions:
    """The occelmnt options from parsed arguments. Raises ConfigError for a negative value."""
    from ekos_occult.plan.predictions import PredictionOptions

    try:
        return PredictionOptions(
            getattr(args, "max_offset_km", None),
            getattr(args, "path_sigmas", None),
            getattr(args, "time_uncertainty_s", None),
        )
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc


def plan_options(args: argparse.Namespace) -> PlanOptions:
    """The :class:`~ekos_occult.app.planning.PlanOptions` of parsed plan arguments.

    Raises:
        ConfigError: a bad ``--now`` or prediction option.
    """
    from ekos_occult.app.planning import PlanOptions

    return PlanOptions(
        events=str(args.events),
        now=parse_now(getattr(args, "now", None)),
        skip_invalid=bool(getattr(args, "skip_invalid", False)),
        predictions=prediction_options(args),
    )


def out_dir(args: argparse.Namespace) -> Path | None:
    """``--out`` as a path (None when not given)."""
    value = getattr(args, "out_dir", None)
    return None if value is None else Path(value).expanduser()


def say(command: str, text: str) -> None:
    """Print what a use case says on stderr: a remark (``warning: ...``, ``note: ...``) after
    the command's name, a progress line as it is."""
    remark = text.startswith(("warning:", "note:"))
    print(f"ekos-occult {command}: {text}" if remark else text, file=sys.stderr)
