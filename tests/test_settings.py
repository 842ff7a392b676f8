"""Settings: defaults < TOML < flags, validated once."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ekos_occult.errors import ConfigError
from ekos_occult.model import Site
from ekos_occult.settings import load_settings, parse_site


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "config.toml"
    p.write_text(text, encoding="utf-8")
    return p


def test_defaults_without_file(tmp_path: Path) -> None:
    s = load_settings(None, default_config=tmp_path / "absent.toml")
    assert s.site is None
    assert s.rules.lead_s == 300.0
    assert s.rules.min_altitude_deg == 20.0
    assert s.rules.max_sun_altitude_deg == -12.0
    assert s.ekos.steps == ("Track", "Align")
    assert s.config_path is None


def test_toml_then_flags(tmp_path: Path) -> None:
    cfg = _write(
        tmp_path,
        "[site]\nlat = 48.1\nlon = 11.6\nelevation = 520\n"
        "[plan]\nlead_s = 120\nmin_altitude_deg = 25\n"
        "[ekos]\nprofile = 'Rig'\nsteps = ['Track']\n",
    )
    s = load_settings(
        cfg,
        overrides={"rules": {"lead_s": 60.0, "min_altitude_deg": None}, "site": {"site": None}},
    )
    assert s.site == Site(48.1, 11.6, 520.0)
    assert s.rules.lead_s == 60.0  # flag wins over file
    assert s.rules.min_altitude_deg == 25.0  # file wins over default when flag absent
    assert s.ekos.profile == "Rig"
    assert s.ekos.steps == ("Track",)


def test_default_config_is_read_when_present(tmp_path: Path) -> None:
    cfg = _write(tmp_path, "[plan]\nmax_sun_altitude_deg = -18\n")
    s = load_settings(None, default_config=cfg)
    assert s.rules.max_sun_altitude_deg == -18.0
    assert s.config_path == cfg


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("[plan]\nlead = 3\n", "unknown setting 'lead'"),
        ("[plan]\nlead_s = 'x'\n", "expected a number"),
        ("[site]\nlat = 95\nlon = 0\n", "Latitude"),
        ("[ekos]\nsteps = ['Align']\n", "must include Track"),
        ("[ekos]\nsteps = ['Track', 'Dance']\n", "unknown step(s) ['Dance']"),
        ("[plan\n", "not valid TOML"),
    ],
)
def test_bad_config_names_the_problem(tmp_path: Path, text: str, fragment: str) -> None:
    cfg = _write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_settings(cfg)
    assert fragment in str(info.value)


def test_missing_named_config_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="Cannot read config file"):
        load_settings(tmp_path / "nope.toml")


def test_require_site_message() -> None:
    s = load_settings(None)
    with pytest.raises(ConfigError, match=r"--site LAT,LON\[,ELEV\]"):
        s.require_site()


@pytest.mark.parametrize("text", ["1,2,3,4", "a,b,c", "91,0,0", "10"])
def test_parse_site_rejects(text: str) -> None:
    with pytest.raises(ConfigError, match="--site"):
        parse_site(text)


def test_parse_site_accepts_two_or_three_numbers() -> None:
    assert parse_site("51.5, -0.1") == Site(51.5, -0.1, 0.0)
    assert parse_site("-33.9,151.2,58") == Site(-33.9, 151.2, 58.0)


def test_station_gives_the_site_and_site_is_its_old_name(tmp_path: Path) -> None:
    new = load_settings(
        _write(
            tmp_path,
            "[station]\nlat = 48.1\nlon = 11.6\nelevation = 520\nposition_source = 'map'\n",
        )  # fmt: skip
    )
    assert new.site == Site(48.1, 11.6, 520.0)
    assert new.station.position_source == "map"
    old = load_settings(_write(tmp_path, "[site]\nlat = 48.1\nlon = 11.6\nelevation = 520\n"))
    assert old.site == new.site


def test_utf8_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_bytes(b"\xef\xbb\xbf[plan]\nlead_s = 120\n")
    assert load_settings(cfg).rules.lead_s == 120.0


@pytest.mark.parametrize(
    ("text", "steps"),
    [
        ('[ekos]\nsteps = "Track"\n', ("Track",)),
        ('[ekos]\nsteps = "Track, Align"\n', ("Track", "Align")),
        ("[ekos]\nsteps = ['Track', 'Track', 'Guide']\n", ("Track", "Guide")),
    ],
)
def test_steps_as_a_string_is_one_step_not_letters(
    tmp_path: Path, text: str, steps: tuple[str, ...]
) -> None:
    assert load_settings(_write(tmp_path, text)).ekos.steps == steps


def test_longitude_0_360_in_config_is_the_same_place(tmp_path: Path) -> None:
    east = load_settings(_write(tmp_path, "[site]\nlat = 51.5\nlon = 359.9\n")).site
    assert east == Site(51.5, -0.1, 0.0) and east is not None and east.lon_deg == -0.1


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("[station]\nlon = 11\n", "[station]: lat missing"),
        ("[station]\nlat = 1\nlon = 1\naltitude = 3\n", "unknown setting 'altitude'"),
        ("[site]\nlat = 1\nlon = 1\nheight = 3\n", "[site]: unknown setting(s) 'height'"),
        ("[station]\nposition_source = 'guess'\n", "position_source = 'guess'"),
        ("[observer]\nemail = 'nobody'\n", "[observer] email"),
        ("[observer]\nname = 'a|b'\n", "[observer] name"),
        ("[camera]\nmethod = 'eyes'\n", "[camera] method"),
        ("[camera]\nsampling = 'sometimes'\n", "[camera] sampling = 'sometimes': choose one"),
        ("[camera]\nsampling = ''\n", "[camera] sampling = '': choose one of exposure, instant"),
        (
            "[camera.'Cam']\nacquisition_delay_s = 0.01\nsampling = 'blur'\n",
            "[camera.'Cam'] sampling = 'blur': choose one of exposure, instant",
        ),
        ("[camera.'Cam']\nsampling = 'instant'\n", "expected acquisition_delay_s and"),
        ("[telescope]\nfocal_length_cm = 'long'\n", "expected a number"),
        ("[observer]\nmore_observers = 1\n", "expected true or false"),
    ],
)
def test_report_settings_are_validated(tmp_path: Path, text: str, fragment: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(fragment)):
        load_settings(_write(tmp_path, text))


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('[ekos]\nprofile = "Rig\\u0007"\n', "[ekos]: profile = 'Rig\\x07': contains the control"),
        ('[capture]\nfilter = "L\\nR"\n', "[capture]: filter = 'L\\nR': contains the control"),
        ("[plan]\nlead_s = nan\n", "[plan]: lead_s = nan: expected a finite number"),
        ("[plan]\nlead_s = inf\n", "[plan]: lead_s = inf: expected a finite number"),
        ("[plan]\nlead_s = -1\n", "[plan]: lead_s = -1: out of range: expected 0 to 86400"),
        ("[plan]\nlead_s = 1e300\n", "[plan]: lead_s = 1e+300: out of range"),
        ("[plan]\nmin_altitude_deg = true\n", "min_altitude_deg = True: expected a number"),
        ("[capture]\nexposure_s = 0\n", "exposure_s = 0: out of range: expected more than 0"),
        ("[capture]\nbinning = 1.5\n", "binning = 1.5: expected a whole number"),
        ("[capture]\nbinning = 99\n", "binning = 99: out of range: expected 1 to 16"),
        ("[capture]\nframe = [0, 0, 64]\n", "frame = [0, 0, 64]: expected [x, y, w, h]"),
        ("[capture]\nframe = [0, 0, -64, 48]\n", "frame = [0, 0, -64, 48]: expected x, y >= 0"),
        ("[capture]\ngain = 'high'\n", "gain = 'high': expected a number"),
        ("[ekos]\nsteps = 3\n", "steps = 3: expected a list of steps"),
        ("[ekos]\nkstars_version = 3.6\n", "kstars_version = 3.6: expected auto"),
        ("[ekos]\ncall_timeout_s = 'x'\n", "call_timeout_s = 'x': expected a number"),
        ("[run]\ndisk_margin_bytes = -5\n", "disk_margin_bytes = -5: out of range"),
        ("[plans]\nlead_s = 1\n", "unknown section(s) or key(s) 'plans'"),
        ("lead_s = 1\n", "unknown section(s) or key(s) 'lead_s'"),
        ("plan = 3\n", "[plan] must be a table, not 3"),
        ("[site]\nlat = '48'\nlon = 11\n", "[site]: lat = '48': expected a number"),
        ("[site]\nlat = 48\nlon = nan\n", "[site]: lon = nan: expected a finite number"),
        ("[site]\nlat = 48\n", "[site]: lon missing"),
        ("[site]\nlat = 48\nlon = 11\nheight = 3\n", "[site]: unknown setting(s) 'height'"),
        ("[site]\nlat = 48\nlon = 720\n", "[site]: longitude 720 is not within"),
        ("[paths]\nout_dir = 5\n", "[paths]: out_dir = 5: expected a folder path"),
        ("[paths]\nout = '/tmp'\n", "[paths]: unknown setting(s) 'out'"),
    ],
)
def test_each_config_value_is_checked_naming_key_and_value(
    tmp_path: Path, text: str, fragment: str
) -> None:
    cfg = _write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_settings(cfg)
    message = str(info.value)
    assert message.startswith(str(cfg)) and fragment in message, message


def test_config_in_another_encoding_names_the_line(tmp_path: Path) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_bytes(b"[ekos]\nprofile = 'M\xfcnchen'\n")
    with pytest.raises(ConfigError) as info:
        load_settings(cfg)
    assert (
        str(info.value) == f"{cfg}:2: byte 0xfc is not UTF-8 text: save the config file as UTF-8."
    )


def test_config_control_character_through_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Was: 'rendered XML is not well-formed' from render, naming neither key nor value."""
    from ekos_occult.cli import main

    cfg = _write(tmp_path, '[ekos]\nprofile = "Sim\\u0001"\n')
    rc = main(["--config", str(cfg), "render", "x.csv", "--site", "48,11,0"])
    assert rc == 2
    err = capsys.readouterr().err
    assert "[ekos]: profile = 'Sim\\x01': contains the control character" in err
    assert "XML" not in err


def test_indi_mount_of_the_remote_recordings_folder(tmp_path: Path) -> None:
    mount = tmp_path / "sm"
    cfg = _write(
        tmp_path,
        f"[indi]\nremote_record_dir = '{mount}'\nrecord_dir_on_host = '/home/stellarmate/rec'\n",
    )
    s = load_settings(cfg)
    assert s.indi.mount == mount and s.indi.on_host == "/home/stellarmate/rec"
    same = load_settings(_write(tmp_path, f"[indi]\nremote_record_dir = '{mount}'\n"))
    assert same.indi.on_host == str(mount)  # mounted at the same path as on the host
    assert load_settings(None).indi.mount is None


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("[indi]\nremote_record_dir = 'rel/dir'\n", "expected an absolute folder path"),
        ("[indi]\nrecord_dir_on_host = '/x'\n", "without remote_record_dir"),
        ("[indi]\nremote_dir = '/x'\n", "unknown setting 'remote_dir'"),
        ("[indi]\nremote_record_dir = 3\n", "expected a string"),
    ],
)
def test_bad_indi_settings_name_the_key(tmp_path: Path, text: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(_write(tmp_path, text))
    assert fragment in str(info.value) and "[indi]" in str(info.value)


def test_camera_sampling_per_camera_and_default(tmp_path: Path) -> None:
    text = (
        "[camera]\nsampling = 'instant'\nacquisition_delay_s = -0.02\n"
        "[camera.'My Sim']\nacquisition_delay_s = -0.05\n"
        "acquisition_delay_uncertainty_s = 0.01\nsampling = 'instant'\n"
        "[camera.'ASI462MM']\nacquisition_delay_s = 0.004\n"
    )
    cam = load_settings(_write(tmp_path, text)).camera
    mine = cam.delay_for("My Sim")
    assert (mine.delay_s, mine.uncertainty_s, mine.sampling) == (-0.05, 0.01, "instant")
    assert mine.origin == "config for 'My Sim'"
    asi = cam.delay_for("ASI462MM")
    assert (asi.delay_s, asi.sampling) == (0.004, "exposure")
    other = cam.delay_for("unknown")
    assert (other.delay_s, other.sampling, other.origin) == (-0.02, "instant", "[camera] default")
    assert cam.delay_for("CCD Simulator").origin == "measured for 'CCD Simulator'"


def test_the_readme_config_example_is_valid(tmp_path: Path) -> None:
    """The station/equipment example in the README loads, per-camera timing model included."""
    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    block = next(b for b in re.findall(r"```toml\n(.*?)```", readme, re.S) if "[observer]" in b)
    cam = load_settings(_write(tmp_path, block)).camera
    asi = cam.delay_for("ZWO CCD ASI462MM")
    assert (asi.delay_s, asi.uncertainty_s, asi.sampling) == (0.012, 0.004, "exposure")


def test_every_problem_of_a_config_is_reported_at_once(tmp_path: Path) -> None:
    """A new user's trial: an unknown [foo] section hid ``lon = "ten"``. Three different
    problems (unknown section, wrong type, out of range) give three lines, in one error."""
    cfg = _write(
        tmp_path,
        '[foo]\nbar = 1\n[station]\nlat = 48\nlon = "ten"\n[plan]\nmin_altitude_deg = 95\n',
    )
    with pytest.raises(ConfigError) as info:
        load_settings(cfg)
    lines = str(info.value).splitlines()
    assert len(lines) == 3, lines
    assert all(line.startswith(f"{cfg}") for line in lines), lines
    assert "unknown section(s) or key(s) 'foo'" in lines[0]
    assert lines[1] == f"{cfg} [station]: lon = 'ten': expected a number."
    assert lines[2].startswith(f"{cfg} [plan]: min_altitude_deg = 95: out of range")


def test_every_bad_key_of_one_section_and_of_the_reports_is_named(tmp_path: Path) -> None:
    # A bad key does not hide the good ones of its section from the later checks: [observer]
    # name = 3 is reported and its country and e-mail are still checked.
    cfg = _write(
        tmp_path,
        "[ekos]\nprofil = 'x'\ncall_timeout_s = 0\nsteps = ['Align']\n"
        "[camera]\nmethod = 'film'\n[camera.'QHY']\nacquisition_delay_s = 'slow'\n"
        "[observer]\nname = 3\ncountry = 'Germany'\nemail = 'nobody'\n"
        "[paths]\nout_dir = 3\nsandbox_dir = ''\n",
    )
    with pytest.raises(ConfigError) as info:
        load_settings(cfg)
    lines = str(info.value).splitlines()
    expected = [
        "[ekos]: unknown setting 'profil'",
        "[ekos]: call_timeout_s = 0: out of range",
        "[ekos]: steps = ['Align']: must include Track",
        "[observer]: name = 3: expected a string",
        "[camera.'QHY']: acquisition_delay_s = 'slow': expected a number",
        "[paths]: out_dir = 3: expected a folder path",
        "[paths]: sandbox_dir = '': expected a folder path",
        "[camera] method = 'film': choose one of",
        "[observer] country = 'Germany'",
        "[observer] email = 'nobody'",
    ]
    assert len(lines) == len(expected), lines
    for line, fragment in zip(lines, expected, strict=True):
        assert line.startswith(str(cfg)) and fragment in line, (fragment, line)


def test_several_config_problems_exit_2_with_one_line_each(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from ekos_occult.cli import main

    cfg = _write(tmp_path, '[foo]\n[station]\nlat = 48\nlon = "ten"\n[run]\nlate_start_s = -1\n')
    rc = main(["--config", str(cfg), "render", "x.csv", "--site", "48,11,0"])
    assert rc == 2
    err = capsys.readouterr().err
    assert "unknown section(s) or key(s) 'foo'" in err
    assert "[station]: lon = 'ten': expected a number." in err
    assert "[run]: late_start_s = -1: out of range" in err
    assert "Traceback" not in err
