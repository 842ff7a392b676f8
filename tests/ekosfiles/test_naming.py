"""Path-safe, unique Ekos job names and file stems."""

from __future__ import annotations

import unicodedata
from datetime import datetime, timezone

import pytest

from ekos_occult.ekosfiles.naming import (
    MAX_NAME_BYTES,
    file_stem,
    is_safe_component,
    job_names,
    sanitize_component,
    unique_names,
)

T0 = datetime(2023, 2, 8, 23, 29, 0, tzinfo=timezone.utc)
T1 = datetime(2023, 2, 9, 1, 2, 3, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("(41) Daphne", "(41) Daphne"),
        ("../../etc/passwd", "_.._etc_passwd"),
        ("..", "event"),
        (".hidden", "hidden"),
        ("a/b\\c", "a_b_c"),
        ('<b>"x"|y?*:', "_b__x__y___"),
        ("100%", "100_"),
        ("tab\tnew\nline", "tab new line"),
        ("bell\x07esc\x1b[0m", "bellesc[0m"),
        ("bidi\u202eevil", "bidievil"),
        ("zero\u200bwidth", "zerowidth"),
        ("  spaced   out  ", "spaced out"),
        ("", "event"),
        ("\x00\x01", "event"),
        ("O'Brien & Co", "O'Brien & Co"),
        ("Ünïcødé ☃ 小惑星", "Ünïcødé ☃ 小惑星"),
    ],
)
def test_sanitize_component(raw: str, expected: str) -> None:
    assert sanitize_component(raw) == expected


def test_sanitized_names_are_safe_components() -> None:
    for raw in ["../x", "a/..", "/abs", "x\x00y", "..\\..", " . ", "ok"]:
        name = sanitize_component(raw)
        assert "/" not in name and "\\" not in name and name not in ("", ".", "..")
        assert not any(unicodedata.category(ch) == "Cc" for ch in name)
        assert is_safe_component(name)


def test_is_safe_component_rejects_unsafe() -> None:
    assert not is_safe_component("../a")
    assert not is_safe_component("")
    assert not is_safe_component("a\nb")
    assert is_safe_component("a b")


def test_unicode_is_normalised_to_nfc() -> None:
    decomposed = "Cafe\u0301"
    assert sanitize_component(decomposed) == "Café"
    assert len(sanitize_component(decomposed)) == 4


def test_long_names_are_cut_on_a_character_boundary() -> None:
    name = sanitize_component("☃" * 200)
    assert len(name.encode("utf-8")) <= MAX_NAME_BYTES
    assert set(name) == {"☃"}


def test_unique_names_ignores_case() -> None:
    assert unique_names(["a", "A", "b", "a"]) == ["a", "A (2)", "b", "a (3)"]


def test_job_names_are_name_plus_utc_date() -> None:
    assert job_names([("(41) Daphne", T0), ("star/2", T1)]) == [
        "(41) Daphne 2023-02-08",
        "star_2 2023-02-09",
    ]


def test_job_names_unique_after_sanitising() -> None:
    names = job_names([("a/b", T0), ("a_b", T0), ("A\\B", T0), ("a/b", T1)])
    assert len({n.casefold() for n in names}) == 4
    assert len({file_stem(n).casefold() for n in names}) == 4
    # Same sanitised name, same date: the UTC start time tells them apart.
    assert names[0] == "a_b 2023-02-08 232900"
    assert names[3] == "a_b 2023-02-09"


def test_stems_collide_only_when_names_do_not() -> None:
    # Different job names ("a b" vs "a&b") that map to the same file stem stay apart.
    names = job_names([("a b", T0), ("a&b", T0), ("a'b", T0)])
    stems = [file_stem(n) for n in names]
    assert len(set(stems)) == 3, stems


def test_file_stem_is_shell_friendly() -> None:
    stem = file_stem("O'Brien & <Co> 2023-02-08")
    assert stem == "O_Brien_Co_2023-02-08"
    assert file_stem("(41) Daphne 2023-02-08") == "(41)_Daphne_2023-02-08"
    assert file_stem("Ünïcødé 2023") == "Ünïcødé_2023"
    assert file_stem("&&&") == "event"
