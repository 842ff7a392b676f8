"""ekos-occult: stellar-occultation timing with KStars/Ekos.

Nothing runs on import: no IERS download, no logging set-up, no bus connection.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
