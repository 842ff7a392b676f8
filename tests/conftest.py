"""Shared fixtures. Astropy is kept offline for the whole test run."""

from __future__ import annotations

import pytest

from ekos_occult.settings import configure_astropy_offline


@pytest.fixture(autouse=True, scope="session")
def _astropy_offline() -> None:
    configure_astropy_offline()
