"""Observation reports: a reduce result + a prediction + the station config -> the forms
coordinators take (IOTA-ES/SODIS text form, Occult "Asteroid observations" XML, plain text).

One job: turn what was measured and predicted into filled reports, leaving what it cannot know
marked for the observer, and check that every written form reads back with the same values.
May import the core modules (``errors``, ``model``, ``settings``), ``plan`` (occelmnt records and
the station geometry) and ``reduce`` records; nothing from ``night``, ``kstars`` or ``cli``. Pure:
texts in, texts out; the files are written by the caller (atomically, ``files.py``).
"""

__all__ = ["FORMATS", "DEFAULT_FORMATS"]

# Here, not in the use case: ``ekos-occult --help`` lists them without importing the report stack.
FORMATS = ("iota-es", "occult-xml", "text")
DEFAULT_FORMATS = ("iota-es", "occult-xml")
