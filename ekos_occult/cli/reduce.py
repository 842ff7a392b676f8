"""``ekos-occult reduce``: a SER recording or PyMovie light curve to D and R times with error bars.

Thin: parses the flags, calls :func:`ekos_occult.reduce.reduction.reduce_file`, prints the result
(text
or ``--json``), and writes ``--csv`` (PyMovie format, for PyOTE) and ``--plot`` atomically after
the reduction succeeded, so a failure leaves no half-written file.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ekos_occult.cli import values
from ekos_occult.errors import ConfigError
from ekos_occult.settings import Settings

if TYPE_CHECKING:
    from ekos_occult.reduce.reduction import ReduceOptions, Reduction

__all__ = ["NAME", "HELP", "add_arguments", "run", "parse_xy"]

MAX_TRIALS = 100_000  # per simulation; more does not narrow a 95 % bar measurably

NAME = "reduce"
HELP = (
    "time an occultation: a SER video (measured here) or a light curve measured elsewhere "
    "(CSV from PyMovie, PyOTE/R-OTE or a Tangra export; SORA .dat) -> D and R (UTC, start "
    "of exposure) with 68%/95% error bars and a false-event probability"
)


def parse_xy(value: str | tuple[float, float], flag: str) -> tuple[float, float]:
    """``X,Y`` pixel coordinates (a value already read by ``values.pixel_xy`` passes through).

    Raises:
        ConfigError: not two pixel coordinates.
    """
    if isinstance(value, tuple):
        return value
    try:
        return values.pixel_xy(value)
    except argparse.ArgumentTypeError as exc:
        raise ConfigError(f"{flag}: {exc}.") from None


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Register the reduce flags."""
    p.add_argument(
        "file",
        metavar="FILE",
        type=values.input_location,
        help="the input, one of: a SER video (.ser, or any file whose SER FileID ends in "
        "RECORDER); a SORA light curve (.dat: time and flux per line, Julian dates or "
        "seconds); else a light-curve CSV: PyMovie, PyOTE/R-OTE (header row FrameNum,timeInfo,"
        "...) or a Tangra export (FrameNo,Time (UT),Signal (1),Background (1),...)",
    )
    _photometry_flags(p.add_argument_group("photometry (SER input)"))
    _csv_flags(p.add_argument_group("light curve (CSV input)"))
    _timing_flags(p.add_argument_group("timing"))
    o = p.add_argument_group("output")
    o.add_argument("--json", action="store_true", help="print the result as JSON")
    o.add_argument(
        "--csv",
        metavar="OUT",
        type=values.output_file(),
        help="write the light curve as PyMovie CSV (PyOTE opens it)",
    )
    o.add_argument(
        "--plot",
        metavar="OUT.png",
        type=values.output_file(".png"),
        help="write the light curve with the fit, D and R as PNG",
    )


def _photometry_flags(g: argparse._ArgumentGroup) -> None:
    g.add_argument(
        "--target",
        metavar="X,Y",
        type=values.pixel_xy,
        help="target star position (default: the star nearest the frame centre)",
    )
    g.add_argument(
        "--ref",
        metavar="X,Y",
        type=values.pixel_xy,
        action="append",
        default=[],
        help="reference star to divide out (repeatable)",
    )
    g.add_argument(
        "--aperture",
        metavar="PX",
        type=values.number(0.0, 1000.0, " px", low_open=True, name="radius in pixels"),
        help="aperture radius in pixels (default 1.2 x FWHM)",
    )
    g.add_argument(
        "--cadence",
        metavar="SECONDS",
        type=values.seconds(0.0, 3600.0, low_open=True),
        help="frame interval, for a SER without timestamps (uses the header start)",
    )


def _csv_flags(g: argparse._ArgumentGroup) -> None:
    g.add_argument(
        "--column",
        metavar="NAME",
        type=values.text,
        help="target signal column (default: the first signal-* column)",
    )
    g.add_argument(
        "--ref-column",
        metavar="NAME",
        type=values.text,
        action="append",
        default=[],
        help="reference column to divide out (repeatable)",
    )
    g.add_argument(
        "--date",
        metavar="YYYY-MM-DD",
        type=values.utc_date,
        help="the UTC date of the first frame when the file has none",
    )


def _timing_flags(g: argparse._ArgumentGroup) -> None:
    g.add_argument(
        "--latency",
        metavar="SECONDS",
        type=values.seconds(-60.0, 60.0),
        default=None,
        help="how much later than the exposure start frames were stamped; subtracted (default: "
        "host-stamped INDI frames one exposure plus the camera's [camera] acquisition delay, "
        "other stamps 0)",
    )
    g.add_argument(
        "--journal",
        metavar="PATH",
        type=values.input_file,
        help="the night's journal.jsonl (default: found beside or above the recording's "
        "folder); gives the stamp source, exposure, camera and clock state of the recording",
    )
    g.add_argument(
        "--trials",
        metavar="N",
        type=values.count(100, MAX_TRIALS, "trials"),
        default=5000,
        help="number of Monte-Carlo trials for the error bars (default 5000)",
    )
    g.add_argument(
        "--false-trials",
        metavar="N",
        type=values.count(100, MAX_TRIALS, "trials"),
        default=10000,
        help="noise-only simulations for the false-event test (default 10000)",
    )
    g.add_argument(
        "--threshold",
        metavar="P",
        type=values.probability,
        default=1e-3,
        help="claim an event only if the false-event probability is at most P (default 0.001)",
    )
    g.add_argument(
        "--seed",
        metavar="N",
        type=values.count(0, 2**32 - 1, "seed"),
        default=0,
        help="random seed of the simulations (default 0)",
    )


def _options(args: argparse.Namespace, settings: Settings) -> ReduceOptions:
    """The reduction options; every flag was range-checked by its ``type=`` (cli/values.py)."""
    from ekos_occult.app.recording import recording_provenance
    from ekos_occult.reduce.reduction import ReduceOptions

    day = args.date
    if isinstance(day, str):
        try:
            day = values.utc_date(day)
        except argparse.ArgumentTypeError as exc:
            raise ConfigError(f"--date: {exc}.") from None
    return ReduceOptions(
        target=parse_xy(args.target, "--target") if args.target else None,
        refs=tuple(parse_xy(r, "--ref") for r in args.ref),
        latency_s=args.latency,
        cadence_s=args.cadence,
        aperture_px=args.aperture,
        date=day,
        column=args.column,
        ref_columns=tuple(args.ref_column),
        trials=args.trials,
        fe_trials=args.false_trials,
        threshold=args.threshold,
        seed=args.seed,
        provenance=recording_provenance(args.file, getattr(args, "journal", None)),
        camera=settings.camera,
    )


def _csv_bytes(red: Reduction) -> bytes:
    """The --csv file's bytes, formatted a block of rows at a time (no per-frame objects)."""
    from dataclasses import replace

    from ekos_occult.reduce.lightcurve_write import iter_pymovie_csv

    lc = replace(red.lightcurve, times_s=red.times_s)
    comments = [
        "ekos-occult reduce: timeInfo is the start of exposure "
        f"(timestamps: {lc.timestamp_source.value})",
        f"ekos-occult reduce: latency correction {red.latency_s:+.6f} s applied",
    ]
    return b"".join(block.encode("utf-8") for block in iter_pymovie_csv(lc, comments))


def _secs(v: float | None) -> str:
    return "unknown" if v is None else f"{v:.4f} s"


def _text(info: dict[str, Any]) -> str:
    lines = [
        f"file:     {info['file']}",
        f"frames:   {info['frames']} ({info['dropped_frames']} dropped; timestamps: "
        f"{info['timestamp_source']}, {info['timestamp_convention']})",
    ]
    ts = info.get("timestamps")
    if ts:
        b = ts["budget"]
        # clock_from already says "unknown (why)" when there is no clock figure.
        clock = (
            b["clock_from"]
            if b["clock_error_s"] is None
            else (f"{_secs(b['clock_error_s'])} ({b['clock_from']})")
        )
        lines.append(
            f"times:    {ts['source']}; {ts['correction_s']:+.4f} s subtracted to reach the "
            f"{ts['convention']}; 1-sigma: timestamps {_secs(b['timestamp_s'])}, clock {clock}"
        )
    p = info["false_event_probability"]
    if not info["event"]:
        lines.append(f"event:    none (false-event probability {p:.3g})")
        lines += [f"          {n}" for n in info["notes"] if n.startswith("no event")]
        return "\n".join(lines)
    lines.append(
        f"event:    yes (false-event probability {p:.3g}, {info['false_event_sigma']} sigma)"
    )
    for e in ("D", "R"):
        when = info[e] or f"frame {info[f'{e}_frame']}"
        bars = (
            f"+/- {info[f'{e}_err_s']:.4f} s (68%), +/- {info[f'{e}_err95_s']:.4f} s (95%)"
            if info[f"{e}_err_s"] is not None
            else f"+/- {info[f'{e}_frame_err']} frames (68%)"
        )
        lines.append(f"{e}:        {when}  {bars}  [frame {info[f'{e}_frame']}]")
        if ts and info[f"{e}_err_s"] is not None:
            lines.append(
                f"          with timestamp and clock errors: +/- "
                f"{_secs(ts[f'{e}_err_total_s'])} (68%)"
            )
    if info["duration_s"] is not None:
        lines.append(
            f"duration: {info['duration_s']:.4f} s +/- {info['duration_err_s']:.4f} s (68%)"
        )
    lines.append(
        f"drop:     {info['drop']} ({100 * (info['drop_fraction'] or 0):.1f}%), SNR {info['snr']}"
    )
    return "\n".join(lines)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Reduce FILE, print the result, write --plot and --csv. Returns 0.

    Both outputs are made in memory first; the files are written only when both are ready (their
    folders were checked when the flags were read), each atomically and naming its flag.
    """
    from ekos_occult.files import write_outputs
    from ekos_occult.reduce.reduction import reduce_file, to_dict

    red = reduce_file(args.file, _options(args, settings))
    info = to_dict(red)
    outputs: list[tuple[str, Path, bytes]] = []
    if args.plot is not None:
        from ekos_occult.views.reduceplot import reduction_png

        outputs.append(("--plot", args.plot, reduction_png(red)))
    if args.csv is not None:
        outputs.append(("--csv", args.csv, _csv_bytes(red)))
    write_outputs([(path, data, flag) for flag, path, data in outputs])  # all or nothing
    for note in red.notes:
        print(f"ekos-occult reduce: note: {note}", file=sys.stderr)
    print(json.dumps(info, indent=2) if args.json else _text(info))
    return 0
