"""Is the rig ready? One vocabulary for ``check`` (which lists verdicts) and ``load``/``run``
(which stop on a problem).

Every check returns a :class:`Check` (name, :class:`Verdict`, detail, fix); ``check`` prints them
or ``--json`` (:func:`to_json_ready`), ``load`` and ``run`` call :func:`ensure_ekos_ready`, which
runs the KStars/Ekos checks in order and raises the first problem's detail and fix through
:func:`require_ready`. Import everything from here.

Modules: ``verdicts`` (the record, :func:`require_ready`, JSON), ``ekos`` (the checks that ask
KStars/Ekos: KStars on the bus, version and file format, Ekos started, devices, camera, stream
recording; :func:`check_rig`), ``prepare`` (:func:`ensure_ekos_ready`: the same checks, starting
Ekos when allowed; :class:`ReadyReport`), ``kstarsrc`` (KStars' settings file), ``host`` (site,
clock, disk, KStars' INDI connect race from its log).
"""

from ekos_occult.kstars.readiness.ekos import (
    RECORDING_PROPERTIES,
    FileFormat,
    check_rig,
    version_check,
)
from ekos_occult.kstars.readiness.host import (
    clock_check,
    disk_check,
    indi_connect_check,
    kstars_log_lines,
    location_check,
    run_tool,
)
from ekos_occult.kstars.readiness.kstarsrc import (
    default_kstarsrc,
    kstars_settings_checks,
    read_kstarsrc,
)
from ekos_occult.kstars.readiness.prepare import (
    ReadyReport,
    ensure_ekos_ready,
    settings_for_camera,
)
from ekos_occult.kstars.readiness.verdicts import (
    Check,
    Verdict,
    failing,
    night_ending,
    require_ready,
    to_json_ready,
)

__all__ = [
    "Check",
    "Verdict",
    "failing",
    "require_ready",
    "night_ending",
    "to_json_ready",
    "RECORDING_PROPERTIES",
    "FileFormat",
    "version_check",
    "check_rig",
    "ReadyReport",
    "ensure_ekos_ready",
    "settings_for_camera",
    "read_kstarsrc",
    "kstars_settings_checks",
    "default_kstarsrc",
    "location_check",
    "run_tool",
    "clock_check",
    "disk_check",
    "indi_connect_check",
    "kstars_log_lines",
]
