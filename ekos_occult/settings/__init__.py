"""Frozen settings: site, plan rules, Ekos names, capture and run limits, paths.

Merged once, in this order: defaults < TOML config file < command-line flags, and validated here.
The config file is ``~/.config/ekos-occult/config.toml`` unless ``--config`` names another.
Only :mod:`ekos_occult.cli` calls :func:`load_settings`; everything else receives a ``Settings``.

A core package (``tests/test_layers.py``: it may import only other core modules), one job in
modules: :mod:`~ekos_occult.settings.sections` (one frozen record per config section),
:mod:`~ekos_occult.settings.camera` (the camera timing model records),
:mod:`~ekos_occult.settings.values` (reading the TOML file, checking single values),
:mod:`~ekos_occult.settings.load` (:func:`load_settings`) and
:mod:`~ekos_occult.settings.offline` (astropy without the network). Import from here.
"""

from __future__ import annotations

from ekos_occult.model import normalise_longitude
from ekos_occult.settings.camera import (
    DEFAULT_ACQUISITION_DELAY_S,
    DEFAULT_ACQUISITION_DELAY_UNCERTAINTY_S,
    MEASURED_DELAYS,
    SAMPLINGS,
    CameraDelay,
    CameraSettings,
)
from ekos_occult.settings.load import load_settings
from ekos_occult.settings.offline import configure_astropy_offline
from ekos_occult.settings.sections import (
    KSTARS_VERSION_SETTINGS,
    OBSERVING_METHODS,
    POSITION_SOURCES,
    STEPS,
    TELESCOPE_TYPES,
    TIME_SOURCES,
    CaptureSettings,
    EkosSettings,
    IndiSettings,
    ObserverSettings,
    RunSettings,
    Settings,
    StationSettings,
    TelescopeSettings,
)
from ekos_occult.settings.values import LIMITS, parse_site

__all__ = [
    "configure_astropy_offline",
    "EkosSettings",
    "CaptureSettings",
    "RunSettings",
    "IndiSettings",
    "ObserverSettings",
    "StationSettings",
    "TelescopeSettings",
    "CameraSettings",
    "CameraDelay",
    "SAMPLINGS",
    "TELESCOPE_TYPES",
    "OBSERVING_METHODS",
    "TIME_SOURCES",
    "POSITION_SOURCES",
    "Settings",
    "LIMITS",
    "STEPS",
    "normalise_longitude",
    "parse_site",
    "load_settings",
    "DEFAULT_ACQUISITION_DELAY_S",
    "DEFAULT_ACQUISITION_DELAY_UNCERTAINTY_S",
    "MEASURED_DELAYS",
    "KSTARS_VERSION_SETTINGS",
]
