"""The fleet model of make bench (benchmarks/_fleet.py): its docs table is current, its simulation counts exactly.

The simulation drives the real STSProvider on a fake clock. With the jitter pinned, the number of AssumeRole calls it
makes is known in advance to the call: a change in when the package refreshes changes it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from benchmarks import _fleet

from powertools_sts.freshness import FLOOR_SECONDS, JITTER_FRACTION

ROOT = Path(__file__).resolve().parents[2]
FLEET_TABLE = Path("docs/snippets/multi_tenant/fleet.txt")
SMALL = {"environments": 2, "tenants": 3, "lifetime": 900, "hours": 2.0, "interval": 45.0, "seed": 7}


def test_the_docs_table_is_the_models():
    assert (ROOT / FLEET_TABLE).read_text() == _fleet.render_table(), "run: python benchmarks/_fleet.py --write"


def test_the_model_follows_the_packages_refresh_rules():
    assert JITTER_FRACTION == 0.25
    assert FLOOR_SECONDS == 60.0
    # One hour: the margin 300 s raised by 0-25%, 337.5 s on average.
    assert _fleet.mean_cycle(3600) == pytest.approx(3600 - 337.5)
    # 15 minutes: still under half the lifetime (450 s).
    assert _fleet.margin(0.999, 900) == pytest.approx(374.925)
    # A margin past half the lifetime is capped there; one under the floor is raised to it.
    assert _fleet.margin(0.0, 900, refresh_margin=600) == 450
    assert _fleet.margin(0.0, 3600, refresh_margin=10) == FLOOR_SECONDS
    # A tenant invoked every minute refreshes at its first invocation past the window's start.
    assert _fleet.cycle(0.5, 900, interval=60.0) == 600.0
    assert _fleet.calls_per_second(20, 10_000, 900) == pytest.approx(200_000 / 562.5)


def test_the_simulation_makes_exactly_the_calls_predicted():
    # Pinned at 0.5, every margin is 337.5 s: a fetch every 13th invocation 45 s apart (562.5 s rounded up to 585),
    # from each pair's first invocation on: 160 invocations make 12 or 13 fetches, by where the first one fell.
    simulated = _fleet.simulate(**SMALL, jitter=0.5)
    assert _fleet.predicted_calls(**SMALL, jitter=0.5) == 75
    assert simulated["calls"] == 75
    assert simulated["calls_per_pair"] == {"min": 12, "max": 13}


def test_the_simulation_with_the_packages_jitter_is_within_the_tolerance_of_the_model():
    run = _fleet.simulate(environments=2, tenants=5, lifetime=900, hours=6.0, interval=60.0, seed=1)
    assert abs(run["deviation"]) <= _fleet.TOLERANCE
