"""The sandbox's windows without a display: the selected-tab check on a picture, the VNC
command line, the VNC server recorded in the state and stopped with the sandbox, and the
screenshot command's input errors."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from ekos_occult import cli
from ekos_occult.kstars import procs, sandbox
from ekos_occult.kstars import sandbox_gui as gui
from ekos_occult.kstars.sandbox_layout import SandboxState
from ekos_occult.model import Site

pytestmark = pytest.mark.timeout(60)


def _tab_bar(selected: int | None) -> Image.Image:
    """A tab bar as Ekos draws it: every tab's top edge at y = 5, the selected one's at y = 3."""
    img = Image.new("RGB", (700, 8), (239, 240, 241))
    draw = ImageDraw.Draw(img)
    for i in range(len(gui.TABS)):
        x0 = gui.TAB_X0 + gui.TAB_WIDTH * i
        y = gui.SELECTED_TOP_Y if i == selected else 5
        draw.line([(x0 + 2, y), (x0 + gui.TAB_WIDTH - 2, y)], fill=(150, 150, 150))
    return img


@pytest.mark.parametrize("i", range(len(gui.TABS)))
def test_selected_tab_is_read_from_the_raised_top_edge(i: int) -> None:
    assert gui.selected_tab(_tab_bar(i)) == i


def test_no_raised_edge_means_no_tab_found() -> None:
    assert gui.selected_tab(_tab_bar(None)) is None


def test_vnc_listens_on_localhost_only_shared_and_forever() -> None:
    argv = gui.vnc_argv("/usr/bin/x11vnc", ":42", 5907)
    assert argv[:3] == ["/usr/bin/x11vnc", "-display", ":42"]
    assert "-localhost" in argv and argv[argv.index("-rfbport") + 1] == "5907"
    assert {"-shared", "-forever"} <= set(argv)


def _sleeper(tmp_path: Path, name: str) -> procs.ProcessRecord:
    sleep = shutil.which("sleep")
    assert sleep is not None
    rec = procs.spawn([sleep, "60"], {"PATH": "/usr/bin:/bin"}, tmp_path / f"{name}.log")
    return procs.ProcessRecord(name, rec.pid, rec.start_ticks)


def test_the_vnc_server_is_recorded_and_stopped_with_the_sandbox(tmp_path: Path) -> None:
    xvfb, dbus, vnc = (_sleeper(tmp_path, n) for n in ("Xvfb", "dbus-daemon", "x11vnc"))
    state = SandboxState(
        tmp_path, "unix:path=/nonexistent", ":99", Site(0.0, 0.0, 0.0), "Simulators", xvfb, dbus
    )
    sandbox._write_state(dataclasses.replace(state, vnc=vnc, vnc_port=5907))
    back = sandbox.read_state(tmp_path)
    assert back is not None and (back.vnc, back.vnc_port) == (vnc, 5907)

    ended = sandbox.stop(tmp_path)

    assert vnc in ended and not any(procs.is_alive(r) for r in (xvfb, dbus, vnc))
    assert sandbox.read_state(tmp_path) is None


def test_screenshot_without_a_running_sandbox_exits_2_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "x.png"
    rc = cli.main(["sandbox", "screenshot", str(out), "--state-dir", str(tmp_path)])
    assert rc == 2 and not out.exists()
    assert "No sandbox is running" in capsys.readouterr().err


def test_screenshot_wants_a_png_name(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = cli.main(["sandbox", "screenshot", str(tmp_path / "x.jpg"), "--state-dir", str(tmp_path)])
    assert rc == 2 and "must end in .png" in capsys.readouterr().err


def test_screenshot_refuses_an_unknown_tab(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc = cli.main(["sandbox", "screenshot", "--tab", "nope", str(tmp_path / "x.png")])
    assert rc == 2 and "--tab" in capsys.readouterr().err


def test_stop_vnc_ends_only_the_vnc_server(tmp_path: Path) -> None:
    xvfb, dbus, vnc = (_sleeper(tmp_path, n) for n in ("Xvfb", "dbus-daemon", "x11vnc"))
    state = SandboxState(
        tmp_path, "unix:path=/nonexistent", ":99", Site(0.0, 0.0, 0.0), "Simulators", xvfb, dbus
    )
    sandbox._write_state(dataclasses.replace(state, vnc=vnc, vnc_port=5907))
    try:
        assert sandbox.stop_vnc(tmp_path) == vnc
        back = sandbox.read_state(tmp_path)
        assert back is not None and (back.vnc, back.vnc_port) == (None, None)
        assert not procs.is_alive(vnc) and procs.is_alive(xvfb) and procs.is_alive(dbus)
        assert sandbox.stop_vnc(tmp_path) is None  # none left
    finally:
        sandbox.stop(tmp_path)
