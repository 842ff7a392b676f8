"""Astropy without the network: bundled IERS tables only, never a download."""

from __future__ import annotations


def configure_astropy_offline() -> None:
    """Never let astropy reach the network: bundled IERS tables only, no auto-download."""
    from astropy.utils import iers
    from astropy.utils.data import conf as data_conf

    iers.conf.auto_download = False
    iers.conf.auto_max_age = None
    iers.conf.iers_degraded_accuracy = "warn"
    data_conf.allow_internet = False
