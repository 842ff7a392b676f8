"""Every flag of every command: --help renders, values starting with '-' are values, each value
is type- and range-checked where it enters (exit 2, the flag named, never a traceback)."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ekos_occult.cli import build_parser, main
from ekos_occult.model import Site

Path_ = tuple[str, ...]


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _walk(
    parser: argparse.ArgumentParser, path: Path_ = ()
) -> Iterator[tuple[Path_, argparse.ArgumentParser]]:
    yield path, parser
    for name, sub in _subparsers(parser).items():
        yield from _walk(sub, (*path, name))


PARSER = build_parser()  # parse_args does not change a parser: one for the whole module
PARSERS = dict(_walk(PARSER))
COMMANDS = list(PARSERS)


def test_the_walk_finds_every_command_and_sandbox_action() -> None:
    names = {" ".join(p) for p in COMMANDS}
    assert {"", "plan", "render", "load", "run", "check", "reduce", "predictions"} <= names
    assert {"sandbox start", "sandbox status", "sandbox stop"} <= names


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.chdir(tmp_path)


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p) or "top")
def test_help_renders_in_process(path: Path_, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*path, "--help"]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("usage: ekos-occult") and err == ""


@pytest.mark.timeout(60)
@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p) or "top")
def test_help_renders_as_python_m(path: Path_) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "ekos_occult", *path, "--help"],
        capture_output=True,
        text=True,
        timeout=50,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: ekos-occult") and "Traceback" not in done.stderr


def _positionals(parser: argparse.ArgumentParser) -> list[str]:
    return [
        "x.png" if str(a.metavar).endswith(".png") else "x.csv"  # sandbox screenshot FILE.png
        for a in parser._actions
        if not a.option_strings and not isinstance(a, argparse._SubParsersAction)
    ]


def _value_options(
    parser: argparse.ArgumentParser,
) -> list[tuple[str, argparse.Action]]:
    return [
        (a.option_strings[-1], a)
        for a in parser._actions
        if a.option_strings and a.nargs != 0 and not isinstance(a, argparse._VersionAction)
    ]


FLAGS = [
    (path, flag, action)
    for path, parser in PARSERS.items()
    if not _subparsers(parser)
    for flag, action in _value_options(parser)
]


def _parse(argv: list[str]) -> tuple[argparse.Namespace | None, str]:
    """Parse with the real parser; the namespace (None on exit) and what argparse said."""
    import contextlib
    import io

    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            return PARSER.parse_args(argv), err.getvalue()
        except SystemExit:
            return None, err.getvalue()


@pytest.mark.parametrize(
    ("path", "flag", "action"), FLAGS, ids=[" ".join((*p, f)) for p, f, _ in FLAGS]
)
@pytest.mark.parametrize("value", ["-1", "-33.9,18.4,10", "-.5", "-inf"])
def test_a_value_starting_with_minus_is_a_value(
    path: Path_, flag: str, action: argparse.Action, value: str
) -> None:
    """Whatever the flag, '-1...' after it is its value (accepted or refused by its type)."""
    parser = PARSERS[path]
    for argv in ([*path, flag, value], [*path, f"{flag}={value}"]):
        _, said = _parse([*argv, *_positionals(parser)])
        assert "expected one argument" not in said, (argv, said)
        assert "unrecognized arguments" not in said, (argv, said)
        if said:  # refused by the flag's own type, which names the flag
            assert f"error: {flag}: " in said or "invalid choice" in said, (argv, said)


@pytest.mark.parametrize("form", ["space", "equals"])
def test_southern_site_and_western_zone_as_written(form: str) -> None:
    def argv(flag: str, value: str) -> list[str]:
        return [flag, value] if form == "space" else [f"{flag}={value}"]

    args, said = _parse(["plan", *argv("--site", "-33.9,18.4,10"), "x.csv"])
    assert said == "" and args is not None
    assert args.site == Site(-33.9, 18.4, 10.0)
    args, said = _parse(["render", *argv("--kstars-tz", "-05:00"), "x.csv"])
    assert args is not None and args.kstars_tz.utcoffset(None).total_seconds() == -5 * 3600
    args, said = _parse(["plan", *argv("--max-sun-altitude", "-18"), "x.csv"])
    assert args is not None and args.max_sun_altitude_deg == -18.0
    args, said = _parse(["reduce", *argv("--latency", "-0.02"), "x.ser"])
    assert args is not None and args.latency == -0.02
    args, said = _parse(["predictions", *argv("--site", "38.5,-7.1,200"), "x.xml"])
    assert args is not None and args.site == Site(38.5, -7.1, 200.0)


def test_target_minus_five_is_refused_as_outside_the_frame(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["reduce", "x.ser", "--target", "-5,-5"]) == 2
    err = capsys.readouterr().err
    assert "error: --target: -5,-5 is outside the frame" in err
    assert "expected one argument" not in err
    args, said = _parse(["reduce", "x.ser", "--target", "5,7", "--ref=10.5,0"])
    assert args is not None and args.target == (5.0, 7.0) and args.ref == [(10.5, 0.0)]


def test_longitude_0_360_is_the_same_place() -> None:
    east, _ = _parse(["plan", "--site", "51.5,359.9,0", "x.csv"])
    west, _ = _parse(["plan", "--site", "51.5,-0.1,0", "x.csv"])
    assert east is not None and west is not None and east.site == west.site
    assert east.site.lon_deg == -0.1


NUMERIC = [
    (path, flag)
    for path, flag, action in FLAGS
    if getattr(action.type, "numeric", False) or flag in ("--lead", "--min-altitude")
]


def test_every_numeric_flag_is_checked() -> None:
    flags = {f for _, f in NUMERIC}
    assert {
        "--lead",
        "--min-altitude",
        "--max-sun-altitude",
        "--max-offset",
        "--path-sigmas",
        "--time-uncertainty",
        "--trials",
        "--false-trials",
        "--threshold",
        "--seed",
        "--latency",
        "--cadence",
        "--aperture",
        "--timeout",
    } <= flags
    untyped = [
        (p, f)
        for p, f, a in FLAGS
        if a.type is None and a.choices is None and f not in ("--config",)
    ]
    assert untyped == []  # every value-taking flag has a checking type


@pytest.mark.parametrize(("path", "flag"), NUMERIC, ids=[" ".join((*p, f)) for p, f in NUMERIC])
@pytest.mark.parametrize(
    "value", ["nan", "inf", "-inf", "1e400", "1e30", "-1e30", "", "abc", "1,5"]
)
def test_numeric_flag_refuses(
    path: Path_, flag: str, value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    parser = PARSERS[path]
    args, err = _parse([*path, f"{flag}={value}", *_positionals(parser)])
    assert args is None
    assert f"error: {flag}: " in err and "Traceback" not in err, err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["plan", "x.csv", "--site", "95,0,0"], "--site: Latitude must be between"),
        (["plan", "x.csv", "--site", "nan,0"], "--site: 'nan,0' is not finite"),
        (["plan", "x.csv", "--site", "1,2,3,4"], "--site: expected LAT,LON[,ELEV]"),
        (["plan", "x.csv", "--site", ""], "--site: empty value"),
        (["plan", "x.csv", "--site", "10,500"], "--site: longitude 500 is not within"),
        (["plan", "x.csv", "--now", "tonight"], "--now: 'tonight' is not an ISO 8601"),
        (["plan", "x.csv", "--now", "9999-01-01T00:00"], "--now: '9999-01-01T00:00' is not"),
        (["plan", "x.csv", "--lead", "-5"], "--lead: -5 is out of range"),
        (["plan", "x.csv", "--lead", "1e9"], "--lead: 1e9 is out of range"),
        (["plan", "x.csv", "--min-altitude", "91"], "--min-altitude: 91 is out of range"),
        (["render", "x.csv", "--kstars-tz", "Mars/Olympus"], "--kstars-tz: 'Mars/Olympus'"),
        (["render", "x.csv", "--kstars-tz", "+15"], "--kstars-tz: '+15' is more than 14"),
        (["render", "x.csv", "--kstars-tz", "+02:75"], "--kstars-tz: '+02:75': minutes"),
        (["run", "x.csv", "--roi", "0,0,-1,5"], "--roi: 0,0,-1,5 is out of range"),
        (["run", "x.csv", "--roi", "a,b"], "--roi: 'a,b' is not X,Y,W,H"),
        (["reduce", "x.ser", "--trials", "10"], "--trials: 10 is out of range"),
        (["reduce", "x.ser", "--trials", "10**9"], "--trials: '10**9' is not a whole number"),
        (["reduce", "x.ser", "--trials", "999999999999"], "--trials: 999999999999 is out of"),
        (["reduce", "x.ser", "--threshold", "1"], "--threshold: 1 is out of range"),
        (["reduce", "x.ser", "--date", "2022-13-01"], "--date: '2022-13-01' is not a date"),
        (["reduce", "x.ser", "--ref", "1,2,3"], "--ref: '1,2,3' is not X,Y"),
        (["reduce", "x.ser", "--column", "a\nb"], "--column: 'a\\nb' contains a control"),
        (["predictions", "x.xml", "--time-uncertainty", "-1"], "--time-uncertainty: -1 is"),
        (["predictions", "x.xml", "--event", ""], "--event: empty value"),
        (["sandbox", "start", "--timeout", "0"], "--timeout: 0 is out of range"),
    ],
)
def test_flag_values_are_checked_where_they_enter(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err, err


def test_now_with_offset_is_utc() -> None:
    args, _ = _parse(["plan", "x.csv", "--now", "2026-02-09T22:30:00+01:00"])
    assert args is not None and args.now == datetime(2026, 2, 9, 21, 30, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["plan", "x.csv", "--plot", "{missing}/a.png"], "--plot: the folder"),
        (["plan", "x.csv", "--plot", "{file}/a.png"], "--plot: {file} is a file, not a folder"),
        (["plan", "x.csv", "--plot", "{dir}"], "--plot: {dir} must end in .png"),
        (["plan", "x.csv", "--plot", "{dir}.png"], "--plot: {dir}.png is a folder"),
        (["reduce", "x.ser", "--csv", "{missing}/y.csv"], "--csv: the folder"),
        (["reduce", "x.ser", "--csv", "{dir}"], "--csv: {dir} is a folder"),
        (["predictions", "x.xml", "--map", "{file}/m.png"], "--map: {file} is a file"),
        (["render", "x.csv", "--out", "{file}"], "--out: {file} is a file, not a folder"),
        (["render", "x.csv", "--out", "{file}/night"], "--out: {file} is a file, so"),
        (["check", "--kstarsrc", "{dir}"], "--kstarsrc: {dir} is a folder"),
    ],
)
def test_output_paths_are_checked_naming_the_flag(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "afile").write_text("x")
    (tmp_path / "adir").mkdir()
    (tmp_path / "adir.png").mkdir()
    names = {
        "missing": str(tmp_path / "no" / "such"),
        "file": str(tmp_path / "afile"),
        "dir": str(tmp_path / "adir"),
    }
    assert main([a.format(**names) for a in argv]) == 2
    err = capsys.readouterr().err
    assert message.format(**names) in err, err
    assert "--out DIR" not in err or "--out" in message


def test_reduce_writes_nothing_when_csv_folder_is_bad(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The reported case: --plot X --csv BADDIR/y.csv wrote the plot, then blamed --out."""
    src = Path("/work/shared/data/lightcurves/synthetic_3.csv")
    plot = tmp_path / "x.png"
    rc = main(["reduce", str(src), "--plot", str(plot), "--csv", str(tmp_path / "BAD" / "y.csv")])
    assert rc == 2
    err = capsys.readouterr().err
    assert "--csv: the folder" in err and "--out" not in err
    assert not plot.exists()


def test_argv_bytes_in_another_encoding_are_refused_naming_the_flag() -> None:
    """A Latin-1 byte on a UTF-8 system reaches Python as a lone surrogate (surrogateescape)."""
    done = subprocess.run(
        [sys.executable, "-m", "ekos_occult", "predictions", "x.xml", "--event", b"M\xfcn"],
        capture_output=True,
        timeout=50,
        check=False,
        env={"PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8", "XDG_CONFIG_HOME": "/nonexistent"},
    )
    assert done.returncode == 2, done.stderr
    err = done.stderr.decode("utf-8", "replace")
    assert "error: --event: " in err and "is not text in this system's encoding" in err
    assert "Traceback" not in err


@settings(max_examples=150, deadline=None)
@given(
    flag=st.sampled_from([(p, f) for p, f, _ in FLAGS]),
    value=st.one_of(
        st.text(max_size=30),
        st.sampled_from(
            ["nan", "-inf", "1e400", "-1", "", "-33.9,18.4,10", "\x00", "9" * 5000, "~nobody9/x"]
        ),
    ),
)
def test_any_value_of_any_flag_parses_or_names_the_flag(
    flag: tuple[Path_, str], value: str
) -> None:
    path, name = flag
    args, said = _parse([*path, f"{name}={value}", *_positionals(PARSERS[path])])
    if args is None:
        assert f"error: {name}: " in said or "invalid choice" in said, said


POSITIONALS = [
    (path, action.metavar or action.dest)
    for path, parser in PARSERS.items()
    if not _subparsers(parser)
    for action in parser._actions
    if not action.option_strings and not isinstance(action, argparse._SubParsersAction)
]


def test_every_command_with_an_input_file_is_covered() -> None:
    commands = {" ".join(p) for p, _ in POSITIONALS}
    assert {"plan", "render", "load", "run", "predictions", "reduce", "report"} <= commands


@pytest.mark.parametrize(
    ("path", "metavar"), POSITIONALS, ids=[" ".join(p) for p, _ in POSITIONALS]
)
@pytest.mark.parametrize("name", ["a" * 300 + ".csv", "bad\x01name.csv"])
def test_an_input_path_the_system_refuses_is_named(
    path: Path_, metavar: str, name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    args, said = _parse([*path, name])
    assert args is None and f"error: {metavar}: " in said, said


@pytest.mark.timeout(60)
def test_config_is_accepted_after_the_command_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`plan FILE --config X` reads X like `--config X plan FILE`; the later one wins."""
    data = Path(__file__).resolve().parents[1] / "data" / "classic.csv"
    config = tmp_path / "config.toml"
    config.write_text("[station]\nlat = -33.9\nlon = 18.4\nelevation = 10\n", encoding="utf-8")
    other = tmp_path / "other.toml"
    other.write_text("[station]\nlat = 50.0\nlon = 10.0\nelevation = 300\n", encoding="utf-8")
    sites = []
    for argv in (
        ["plan", str(data), "--now", "2023-02-08T18:00:00", "--json", "--config", str(config)],
        ["--config", str(config), "plan", str(data), "--now", "2023-02-08T18:00:00", "--json"],
        [
            "--config",
            str(other),
            "plan",
            str(data),
            "--now",
            "2023-02-08T18:00:00",
            "--json",
            "--config",
            str(config),
        ],
    ):
        assert main(argv) == 0
        sites.append(json.loads(capsys.readouterr().out)["site"])
    assert sites[0] == sites[1] == sites[2]
    assert sites[0]["lat_deg"] == pytest.approx(-33.9)
    assert sites[0]["lon_deg"] == pytest.approx(18.4)


def _help_texts(parser: argparse.ArgumentParser) -> Iterator[tuple[str, str]]:
    """(what, text) of a parser's description, its commands' one-line helps, its arguments'
    helps and its group titles: everything ``--help`` shows that we wrote."""
    if parser.description:
        yield "description", parser.description
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for choice in action._choices_actions:
                yield f"{choice.dest} (command list)", choice.help or ""
        elif action.help not in (None, argparse.SUPPRESS):
            yield "/".join(action.option_strings) or action.dest, str(action.help)
    for group in parser._action_groups:
        yield f"group {group.title!r}", group.title or ""


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p) or "top")
def test_help_texts_are_written_as_argparse_writes_its_own(path: Path_) -> None:
    # One style, argparse's ("show this help message and exit"): a lower-case start and no
    # full stop at the end, in every description, command help, argument help and group title.
    texts = list(_help_texts(PARSERS[path]))
    assert texts
    wrong = [
        f"{what}: {text[:60]!r}"
        for what, text in texts
        if text[:1].isupper() or text.rstrip().endswith(".")
    ]
    assert wrong == []


def test_the_help_style_check_sees_a_capital_and_a_full_stop() -> None:
    parser = argparse.ArgumentParser(description="Plan the night.")
    parser.add_argument("--x", help="fine")
    texts = dict(_help_texts(parser))
    assert texts["description"] == "Plan the night." and texts["--x"] == "fine"


def test_site_help_says_the_elevation_is_optional_and_in_metres(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["plan", "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "--site LAT,LON[,ELEV]" in out
    assert "optionally, the elevation in metres" in out and "default 0" in out
    assert PARSER.parse_args(["plan", "x.csv", "--site", "-33.9,18.4"]).site == Site(
        -33.9, 18.4, 0.0
    )


def test_reduce_help_names_every_input_reduce_reads(capsys: pytest.CaptureFixture[str]) -> None:
    # reduce_file: a SER (by extension or FileID), a SORA .dat, else the CSV reader (PyMovie,
    # PyOTE/R-OTE: FrameNum; Tangra: FrameNo).
    assert main(["reduce", "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    for name in ("SER video", ".ser", "SORA", ".dat", "PyMovie", "PyOTE/R-OTE", "Tangra"):
        assert name in out, name
    assert "FrameNum" in out and "FrameNo" in out


@pytest.mark.parametrize("command", ["plan", "render", "load", "run", "rehearse", "predictions"])
def test_a_missing_events_file_is_named_before_a_missing_site(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "tonight.csv"
    assert main([command, str(missing)]) == 2  # and no site anywhere (no config)
    err = capsys.readouterr().err
    assert str(missing) in err and "No such file" in err
    assert "No observing site" not in err


@pytest.mark.parametrize(
    ("command", "args"),
    [("plan", ["x.csv"]), ("reduce", ["x.ser"]), ("check", []), ("sandbox", ["status"])],
)
def test_an_unknown_flag_after_a_command_is_said_by_that_command(
    command: str, args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    # From a new user's trial: it said "ekos-occult: error" and pointed to the top-level help.
    assert main([command, *args, "--frobnicate"]) == 2
    err = capsys.readouterr().err
    assert f"ekos-occult {command}: error: unrecognized arguments: --frobnicate" in err
    assert f"`ekos-occult {command} --help` lists the arguments" in err
