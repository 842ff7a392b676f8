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
    with pytest.raises(ConfigError, match="--site LAT,LON,ELEV"):
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
        ("[telescope]\nfocal_length_cm = 'long'\n", "expected a number"),
        ("[observer]\nmore_observers = 1\n", "expected true or false"),
    ],
)
def test_report_settings_are_validated(tmp_path: Path, text: str, fragment: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(fragment)):
        load_settings(_write(tmp_path, text))
