"""The one definition of an idle scheduler, used by the loader, the Ekos port and the supervisor."""

from __future__ import annotations

import pytest

from ekos_occult.kstars.states import MountStatus, SchedulerState, is_scheduler_idle
from ekos_occult.night.ekosport import JobTracker
from ekos_occult.night.ports import MountState
from ekos_occult.night.records import RigStatus

IDLE = {SchedulerState.IDLE, SchedulerState.ABORTED}


@pytest.mark.parametrize("state", list(SchedulerState))
def test_idle_means_no_job_runs(state: SchedulerState) -> None:
    assert is_scheduler_idle(state) is (state in IDLE)


@pytest.mark.parametrize("state", list(SchedulerState))
def test_every_user_of_idle_agrees(state: SchedulerState) -> None:
    rig = RigStatus(state, True, MountState(MountStatus.TRACKING, 0.0, 0.0), True)
    assert rig.is_ekos_quiet is is_scheduler_idle(state)
    tracker = JobTracker()
    tracker.reset("job")
    tracker.started = tracker.was_running = True
    tracker.on_status(state)
    assert tracker.phase.is_final is is_scheduler_idle(state)
