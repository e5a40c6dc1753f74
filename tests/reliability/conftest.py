"""Fixtures of the reliability suite: the fault proxy, and the hypothesis profiles.

Profiles: "ci" (loaded by default, part of ``make test``) keeps every property test well under a
minute; "soak" (``HYPOTHESIS_PROFILE=soak``, which ``make soak`` sets) runs many more examples.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

from .proxy import FaultProxy

_QUIET = [HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large]
settings.register_profile("ci", max_examples=80, stateful_step_count=50, deadline=None, suppress_health_check=_QUIET)
settings.register_profile(
    "soak", max_examples=1000, stateful_step_count=60, deadline=None, suppress_health_check=_QUIET
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

#: True under ``make soak``: the soak-marked tests run only then.
SOAK = os.environ.get("HYPOTHESIS_PROFILE") == "soak"


@pytest.fixture
def proxy(moto_sts, monkeypatch) -> Iterator[FaultProxy]:
    """The fault proxy in front of moto; STS clients built during the test send their calls through it."""
    with FaultProxy(moto_sts.url) as fault_proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL_STS", fault_proxy.url)
        yield fault_proxy
