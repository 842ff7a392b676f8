"""Command line: parse arguments, build Settings once, call one use case per subcommand, print.

The use cases are in :mod:`ekos_occult.app` (typed options in, results out); commands do not
import each other (shared options are declared once in :mod:`ekos_occult.cli.options`, every
kind of flag value once in :mod:`ekos_occult.cli.values`).
Layer: the top; may import everything.

This is the only module that catches :class:`~ekos_occult.errors.OccultError` (input errors exit
2, run errors 1; ``--debug`` shows the traceback), sets up logging and applies the astropy
offline policy (no IERS download, ever) for the commands that use astropy's Earth orientation.

Start-up is kept short (a Raspberry Pi is 5-10x slower than a desktop): importing this module
and building the parser loads no numpy, astropy, asyncio or D-Bus code; each command imports
what it needs inside ``run``. Planning uses ERFA without astropy (``plan/earthsky``).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from ekos_occult import __version__
from ekos_occult.cli.options import ArgumentParser
from ekos_occult.cli.values import input_file
from ekos_occult.errors import OccultError
from ekos_occult.model import Site
from ekos_occult.settings import Settings, configure_astropy_offline, load_settings, parse_site

__all__ = ["main", "build_parser", "default_config_path"]

# One module per subcommand. Each defines ``NAME``, ``HELP``, ``add_arguments(parser)`` and
# ``run(args, settings) -> int``, imports heavy libraries lazily inside ``run`` (so ``--help`` and
# light commands start fast) and does no work at import.
COMMANDS = (
    "sandbox",
    "plan",
    "render",
    "load",
    "run",
    "rehearse",
    "check",
    "reduce",
    "predictions",
    "report",
)

# The commands whose code reaches astropy's time scales or Earth orientation (``run``: Ekos' JNow
# position → J2000 in night.ekosport). Importing ``astropy.utils.iers`` costs ~0.3 s (seconds on a
# Pi), so the others do not pay for the offline policy they would not need.
ASTROPY_COMMANDS = frozenset({"run", "rehearse"})

log = logging.getLogger(__name__)


def default_config_path() -> Path:
    """The per-user config file (``$XDG_CONFIG_HOME/ekos-occult/config.toml``)."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "ekos-occult" / "config.toml"


def _command_module(name: str) -> ModuleType:
    return importlib.import_module(f"ekos_occult.cli.{name}")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand registered."""
    parser = ArgumentParser(
        prog="ekos-occult",
        description="plan, schedule, record and time stellar occultations with KStars/Ekos; "
        "all times are UTC (a timestamp without an offset is read as UTC)",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "--config",
        metavar="FILE",
        type=Path,
        help=f"config file (default {default_config_path()}, if it exists)",
    )
    parser.add_argument("--debug", action="store_true", help="log debug lines and show tracebacks")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        try:
            mod = _command_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == f"ekos_occult.cli.{name}":
                continue  # not built yet
            raise
        # argparse %-formats a subcommand's help (not its description): escape a literal %.
        p = sub.add_parser(name, help=mod.HELP.replace("%", "%%"), description=mod.HELP)
        mod.add_arguments(p)
        # Users put --config after the command too ("plan tonight.csv --config FILE"); left
        # out, it keeps the value given before the command (or none).
        p.add_argument(
            "--config",
            metavar="FILE",
            type=input_file,
            default=argparse.SUPPRESS,
            help="config file (the same as --config before the command)",
        )
        p.set_defaults(_module=mod, _parser=p)
    return parser


def _overrides(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    def get(name: str) -> Any:
        return getattr(args, name, None)

    site = get("site")
    if site is not None and not isinstance(site, Site):
        site = parse_site(str(site))
    paths: dict[str, Any] = {}
    if get("out_dir") is not None:
        paths["out_dir"] = Path(get("out_dir")).expanduser()
    if get("state_dir") is not None:
        paths["sandbox_dir"] = Path(get("state_dir")).expanduser()
    return {
        "site": {"site": site},
        "rules": {k: get(k) for k in ("lead_s", "min_altitude_deg", "max_sun_altitude_deg")},
        "ekos": {"kstars_version": get("kstars_version")},
        "paths": paths,
    }


def _setup_logging(debug: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.WARNING,
        format="%(levelname)s: %(message)s",
        stream=sys.stderr,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``ekos-occult`` console script. Returns the exit status."""
    parser = build_parser()
    try:
        args, unknown = parser.parse_known_args(argv)
        if unknown:  # said by the command's own parser: its usage, its --help
            getattr(args, "_parser", parser).error(f"unrecognized arguments: {' '.join(unknown)}")
    except SystemExit as exc:  # --help/--version (0), or a bad flag (2: argparse said which)
        return exc.code if isinstance(exc.code, int) else 2
    _setup_logging(args.debug)
    try:
        if args.command in ASTROPY_COMMANDS:
            configure_astropy_offline()
        settings: Settings = load_settings(
            args.config, default_config=default_config_path(), overrides=_overrides(args)
        )
        rc: int = args._module.run(args, settings)
        return rc
    except OccultError as exc:
        if args.debug:
            log.exception("failed")
        print(f"ekos-occult {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"ekos-occult {args.command}: interrupted", file=sys.stderr)
        return 130
