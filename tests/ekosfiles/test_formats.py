"""The Ekos file formats and the one mapping from a KStars version to the format it reads."""

from __future__ import annotations

import json

import pytest

from ekos_occult.ekosfiles.formats import (
    FORMAT_SETTINGS,
    FORMATS,
    KStarsFormat,
    format_for_version,
    parse_format_setting,
)
from ekos_occult.settings import KSTARS_VERSION_SETTINGS


@pytest.mark.parametrize(
    ("version", "family"),
    [
        ("3.6.2", "3.6"),
        ("3.5.0", "3.6"),
        ("3.7.0", "3.7"),
        ("3.7.5", "3.7"),
        ("3.8.1", "3.7"),
        ("4.0.0", "3.7"),
        ("garbage", "3.6"),
    ],
)
def test_format_for_version(version: str, family: str) -> None:
    assert format_for_version(version) == family
    assert format_for_version(version) is KStarsFormat(family)


def test_a_format_reads_and_prints_as_its_text() -> None:
    assert FORMATS == (KStarsFormat.V3_6, KStarsFormat.V3_7)
    assert [str(f) for f in FORMATS] == ["3.6", "3.7"]
    assert [f"{f}" for f in FORMATS] == ["3.6", "3.7"]
    assert json.dumps({"file_format": KStarsFormat.V3_7}) == '{"file_format": "3.7"}'


def test_the_setting_is_auto_or_a_format() -> None:
    assert parse_format_setting("auto") is None
    assert parse_format_setting("3.6") is KStarsFormat.V3_6
    assert parse_format_setting("3.7") is KStarsFormat.V3_7
    with pytest.raises(ValueError, match="expected one of auto, 3.6, 3.7"):
        parse_format_setting("3.8")


def test_the_config_accepts_exactly_the_format_settings() -> None:
    # settings (core) cannot import ekosfiles: its copy of the list must agree.
    assert KSTARS_VERSION_SETTINGS == FORMAT_SETTINGS
