"""One rich Console that renders into a string: what the table views print into."""

from __future__ import annotations

import io

from rich.console import Console

__all__ = ["text_console"]


def text_console(width: int, color: bool) -> tuple[Console, io.StringIO]:
    """A Console writing into a fresh buffer, ``width`` columns, ANSI colours only when ``color``.

    Returns:
        The console and its buffer (``buffer.getvalue()`` is the text printed so far).
    """
    buffer = io.StringIO()
    console = Console(
        file=buffer,
        width=width,
        force_terminal=color,
        no_color=not color,
        color_system="standard" if color else None,
        highlight=False,
    )
    return console, buffer
