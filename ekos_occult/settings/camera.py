"""The camera timing model: how a frame's host stamp lies after the sky it shows.

``[camera]`` of the config file (the recording camera, its clock, frame timing) and its
``[camera."INDI name"]`` tables of per-camera acquisition delays, as frozen records:
:class:`CameraSettings` and the per-camera model :class:`CameraDelay` (delays and their 1-sigma
in seconds; ``sampling`` one of :data:`SAMPLINGS`). :data:`MEASURED_DELAYS` are the delays
measured against a known truth (``docs/timing.md``). Reading and checking the table is
:mod:`ekos_occult.settings.load`'s job.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_ACQUISITION_DELAY_S = 0.0
"""Host-stamp delay beyond one exposure assumed for a camera nobody measured (seconds)."""
DEFAULT_ACQUISITION_DELAY_UNCERTAINTY_S = 0.03
"""Its uncertainty: a USB camera's readout, transfer and INDI's queue take 0 to tens of ms."""
SAMPLINGS = ("exposure", "instant")
"""How a camera's frame relates to the sky (``[camera] sampling``); see :class:`CameraDelay`."""


@dataclass(frozen=True)
class CameraDelay:
    """How one camera's host stamps (INDI's recorder write time) lie after the sky they show.

    ``sampling = "exposure"`` (every real camera): the frame integrates the sky over its
    exposure; stamp = start of exposure + exposure + ``delay_s`` (readout, transfer, queueing).

    ``sampling = "instant"`` (the INDI CCD Simulator, whose frame is drawn from the sky at one
    instant, when its ``gsc`` runs): stamp = that instant + the frame's own stamp interval +
    ``delay_s``; ``delay_s`` is then minus the time from the previous frame's stamp to the
    instant (the driver's draw loop restarts right after handing a frame over), so it is
    negative. See ``docs/timing.md``.

    Attributes:
        delay_s: the acquisition delay (seconds).
        uncertainty_s: its 1-sigma (seconds).
        origin: where it came from, in words (``measured for 'CCD Simulator'``, ...).
        sampling: one of :data:`SAMPLINGS`.
    """

    delay_s: float
    uncertainty_s: float
    origin: str
    sampling: str = "exposure"


MEASURED_DELAYS: tuple[tuple[str, float, float, str], ...] = (
    # INDI 1.9.9 CCD Simulator in the sandbox (real stars, 320x240 ROI): it samples the sky at
    # one instant, its gsc call, which starts -DELAY after the previous frame's stamp (the
    # draw loop restarts, sh + Python start). benchmarks/timing_bias.py pairs gsc's logged
    # instants with the SER stamps: median 0.012-0.029 s per recording (0.013-0.018 s in 20 of
    # 24 recordings, 4 runs, load 0.7-4), 90% below 0.054 s but one; docs/timing.md §5.
    ("CCD Simulator", -0.015, 0.01, "instant"),
)
"""(camera, acquisition delay, uncertainty, sampling) measured against a known truth."""


@dataclass(frozen=True)
class CameraSettings:
    """``[camera]``: the recording camera, the clock its timestamps come from, frame timing.

    A host-stamped frame (INDI writes the host time when the frame is written) is stamped one
    exposure plus the *acquisition delay* after its exposure started; reduce subtracts both
    (see :class:`CameraDelay` for an instant-sampling camera such as the CCD Simulator).

    Attributes:
        name: the camera model as reported (e.g. ``QHY174M-GPS``, ``ASI462MM``).
        method: observing method, one of :data:`OBSERVING_METHODS` (``video`` for SER video).
        time_source: what disciplines the timestamps, one of :data:`TIME_SOURCES`
            (``gps`` in-camera or PPS, ``ntp`` host clock, ...); empty = not given.
        acquisition_delay_s: the delay for a camera with no entry of its own (seconds).
        acquisition_delay_uncertainty_s: its 1-sigma uncertainty (seconds).
        sampling: how that camera samples the sky, one of :data:`SAMPLINGS`.
        max_clock_error_s: flag a recording whose clock's maximum error is above this.
        delays: per camera ``(INDI name, delay, uncertainty, sampling)``, from
            ``[camera."NAME"]`` tables, after the measured ones (:data:`MEASURED_DELAYS`).
    """

    name: str = ""
    method: str = "video"
    time_source: str = ""
    acquisition_delay_s: float = DEFAULT_ACQUISITION_DELAY_S
    acquisition_delay_uncertainty_s: float = DEFAULT_ACQUISITION_DELAY_UNCERTAINTY_S
    sampling: str = "exposure"
    max_clock_error_s: float = 0.1
    delays: tuple[tuple[str, float, float, str], ...] = MEASURED_DELAYS

    def delay_for(self, camera: str | None) -> CameraDelay:
        """The acquisition delay model for a camera (None: unknown camera)."""
        for entry in reversed(self.delays):
            name, delay, sigma, sampling = entry
            if camera is not None and name == camera:
                origin = "measured" if entry in MEASURED_DELAYS else "config"
                return CameraDelay(delay, sigma, f"{origin} for {name!r}", sampling)
        default = (
            self.acquisition_delay_s,
            self.acquisition_delay_uncertainty_s,
            self.sampling,
        ) != (DEFAULT_ACQUISITION_DELAY_S, DEFAULT_ACQUISITION_DELAY_UNCERTAINTY_S, "exposure")
        return CameraDelay(
            self.acquisition_delay_s,
            self.acquisition_delay_uncertainty_s,
            "[camera] default" if default else "built-in default (unmeasured camera)",
            self.sampling,
        )
