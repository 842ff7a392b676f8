"""The sandbox's windows, for a person to look at: the Ekos window shown (its first-start Profile
Wizard closed), a PNG of it with a chosen tab, and a VNC server on localhost.

X is driven with ``xdotool`` (Debian package ``xdotool``) and grabbed with Pillow's
``ImageGrab`` (its X grab through XCB); the VNC server is ``x11vnc``.

OBSERVED with KStars 3.6.2 under Xvfb, no window manager:
- Ekos 3.6.2 runs its Profile Wizard, a modal dialog, from inside the Ekos window's show event
  when it knows exactly one profile ("once per session"; no kstarsrc option turns it off: the
  check is ``profileWizardLaunched == false && profiles.count() == 1`` in
  ``Ekos::Manager::showEvent``). Ekos reads its profile list when KStars starts. Until the
  wizard is closed the Ekos window is never mapped: unpainted, it shows black or whatever was
  below it (the "black windows"). Closed with Escape, the Ekos window mapped, then was hidden
  again about a second later and would not show steadily. So the sandbox prevents the wizard
  (a first start that gives KStars' user database a second profile, see
  :func:`ekos_occult.kstars.sandbox_ekos.prepare_user_db`); :func:`show_ekos` still closes one
  should it appear. Shown without the wizard, the Ekos window maps and paints normally
  (software rendering; no GL variables needed) and stays.
- Ekos has no D-Bus call that selects a tab, so the tab is clicked (``xdotool``, XTEST). The
  tab bar holds icon-only tabs of 77 px from x = 3 (48 px icons, Fusion style); the selected
  tab is the one whose top edge is drawn 2 px higher, which is how the click is checked.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from ekos_occult.errors import SandboxError

__all__ = [
    "TABS",
    "EkosWindow",
    "show_ekos",
    "ekos_shown",
    "find_windows",
    "raise_ekos",
    "select_tab",
    "grab",
    "vnc_argv",
    "which_x11vnc",
    "wait_for_port",
    "png_bytes",
    "selected_tab",
]

TABS = ("setup", "scheduler", "analyze", "capture", "focus", "mount", "align", "guide")
"""The Ekos tabs in their order with the Simulators profile (Telescope, CCD, Focuser)."""
TAB_X0 = 3
TAB_WIDTH = 77
TAB_CLICK_Y = 30
SELECTED_TOP_Y = 3  # the selected tab's top edge; the others' is at y = 5
STEADY_S = 2.5  # the Ekos window counts as shown once it stayed mapped this long
TOGGLE_EVERY_S = 3.0  # at most one "show_ekos" trigger per this many seconds
EKOS_TITLE = r"^Ekos( - |$)"  # "Ekos - Simulators Profile — KStars", not "Ekos Profile Wizard"
WIZARD_TITLE = r"^Ekos Profile Wizard"


@dataclass(frozen=True)
class EkosWindow:
    """The Ekos window on the sandbox display: X id and geometry (pixels, root coordinates)."""

    window: int
    x: int
    y: int
    width: int
    height: int


def _xdotool(display: str, *args: str, check: bool = True) -> str:
    exe = shutil.which("xdotool")
    if exe is None:
        raise SandboxError(
            "xdotool is not installed (it drives the sandbox's windows): "
            "sudo apt-get install xdotool, or run scripts/setup.sh"
        )
    env = {"DISPLAY": display, "PATH": os.defpath}
    try:
        proc = subprocess.run(
            [exe, *args], env=env, capture_output=True, text=True, timeout=15.0, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise SandboxError(f"xdotool {' '.join(args)} did not answer within 15 s") from exc
    if check and proc.returncode != 0:
        raise SandboxError(f"xdotool {' '.join(args)} failed: {proc.stderr.strip()}")
    return proc.stdout


def find_windows(display: str, title_regex: str) -> list[int]:
    """The mapped (visible) windows whose title matches ``title_regex``."""
    out = _xdotool(display, "search", "--onlyvisible", "--name", title_regex, check=False)
    return [int(w) for w in out.split()]


def ekos_shown(display: str) -> bool:
    """Whether the Ekos window is mapped on the display."""
    return bool(find_windows(display, EKOS_TITLE))


async def show_ekos(
    toggle: Callable[[], Awaitable[None]], display: str, timeout_s: float = 30.0
) -> bool:
    """Show the Ekos window and keep it shown: close the Profile Wizard when it appears, and
    show the window again when KStars hides it. Returns whether a wizard was closed.

    ``toggle`` triggers KStars' "show_ekos" action (it shows a hidden Ekos window, and hides a
    shown, active one). OBSERVED with Ekos 3.6.2 under Xvfb: about a second after the wizard is
    closed, the Ekos window is hidden once more; shown again, it stays.

    Raises:
        SandboxError: the Ekos window was not shown steadily (for :data:`STEADY_S`) in time.
    """
    import asyncio  # here: `sandbox --help` imports this module for TABS and stays light

    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    closed = False
    shown_since: float | None = None
    last_toggle = -1e9
    while loop.time() < deadline:
        wizards = await asyncio.to_thread(find_windows, display, WIZARD_TITLE)
        for w in wizards:
            await asyncio.to_thread(
                _xdotool, display, "key", "--window", str(w), "Escape", check=False
            )
            closed = True
        if await asyncio.to_thread(ekos_shown, display):
            shown_since = loop.time() if shown_since is None else shown_since
            if loop.time() - shown_since >= STEADY_S:
                return closed
        else:
            shown_since = None
            if not wizards and loop.time() - last_toggle >= TOGGLE_EVERY_S:
                await toggle()
                last_toggle = loop.time()
        await asyncio.sleep(0.2)
    raise SandboxError(f"The Ekos window could not be shown on {display} in {timeout_s:g} s.")


def _geometry(display: str, window: int) -> EkosWindow:
    out = _xdotool(display, "getwindowgeometry", "--shell", str(window))
    vals = dict(line.split("=", 1) for line in out.split() if "=" in line)
    return EkosWindow(
        window, int(vals["X"]), int(vals["Y"]), int(vals["WIDTH"]), int(vals["HEIGHT"])
    )


def raise_ekos(display: str) -> EkosWindow:
    """Put the Ekos window at the top-left, above the other windows. Its size is set in the
    sandbox's kstarsrc (``[Ekos] EkosWindowWidth/Height``): resizing it from outside made Qt
    hide it (OBSERVED).

    Raises:
        SandboxError: the Ekos window is not shown.
    """
    wins = find_windows(display, EKOS_TITLE)
    if not wins:
        raise SandboxError(
            "The Ekos window is not shown on the sandbox display (is Ekos open? "
            "`ekos-occult sandbox status`)."
        )
    w = str(wins[0])
    _xdotool(display, "windowmove", w, "0", "0")
    _xdotool(display, "windowraise", w)
    time.sleep(0.5)  # let Qt paint what was uncovered
    return _geometry(display, wins[0])


def selected_tab(image: object) -> int | None:
    """The index of the selected Ekos tab in a grab of the Ekos window (None: not found)."""
    from PIL import Image

    assert isinstance(image, Image.Image)
    rgb = image.convert("RGB")
    dark = [
        x
        for x in range(min(rgb.width, TAB_X0 + TAB_WIDTH * len(TABS)))
        if sum(rgb.getpixel((x, SELECTED_TOP_Y))) < 600  # type: ignore[arg-type]
    ]
    if not dark:
        return None
    centre = (dark[0] + dark[-1]) / 2
    return int((centre - TAB_X0) // TAB_WIDTH)


def select_tab(display: str, win: EkosWindow, tab: str, timeout_s: float = 5.0) -> None:
    """Click the Ekos tab ``tab`` (one of :data:`TABS`) and check that it is selected.

    Raises:
        SandboxError: unknown tab, or the tab did not become the selected one.
    """
    if tab not in TABS:
        raise SandboxError(f"unknown Ekos tab {tab!r}; one of: {', '.join(TABS)}")
    i = TABS.index(tab)
    x = win.x + TAB_X0 + TAB_WIDTH * i + TAB_WIDTH // 2
    _xdotool(display, "mousemove", str(x), str(win.y + TAB_CLICK_Y), "click", "1")
    # Move the pointer away so no tooltip covers the picture.
    _xdotool(display, "mousemove", str(win.x + win.width - 2), str(win.y + win.height - 2))
    deadline = time.monotonic() + timeout_s
    while True:
        time.sleep(0.3)
        got = selected_tab(grab(display, (win.x, win.y, win.width, 8)))
        if got == i:
            return
        if time.monotonic() > deadline:
            seen = TABS[got] if got is not None and 0 <= got < len(TABS) else "none"
            raise SandboxError(f"Could not switch Ekos to the {tab} tab (selected: {seen}).")


def grab(display: str, box: Sequence[int]) -> object:
    """A Pillow image of ``box`` = (x, y, width, height) on ``display``.

    Raises:
        SandboxError: the display cannot be read.
    """
    from PIL import ImageGrab

    x, y, w, h = box
    try:
        return ImageGrab.grab(bbox=(x, y, x + w, y + h), xdisplay=display)
    except OSError as exc:
        raise SandboxError(f"Cannot grab the sandbox display {display}: {exc}") from exc


def png_bytes(image: object) -> bytes:
    """``image`` (a Pillow image) as PNG bytes."""
    from PIL import Image

    assert isinstance(image, Image.Image)
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def vnc_argv(x11vnc: str, display: str, port: int) -> list[str]:
    """x11vnc serving ``display`` on 127.0.0.1:``port`` only, view and control, any number
    of viewers, until the sandbox stops it."""
    return [
        x11vnc,
        "-display",
        display,
        "-localhost",
        "-rfbport",
        str(port),
        "-shared",
        "-forever",
        "-nopw",
        "-quiet",
    ]


def which_x11vnc() -> str:
    """The x11vnc program.

    Raises:
        SandboxError: not installed (names the package).
    """
    exe = shutil.which("x11vnc")
    if exe is None:
        raise SandboxError(
            "--vnc needs x11vnc: sudo apt-get install x11vnc, or run scripts/setup.sh"
        )
    return exe


def wait_for_port(port: int, timeout_s: float) -> bool:
    """Whether something accepts TCP connections on 127.0.0.1:``port`` within ``timeout_s``."""
    import socket

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.settimeout(0.5)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.2)
    return False
