"""The one clock every cache decision reads.

Wall-clock epoch seconds, not ``time.monotonic``: credentials expire on the wall clock, and a Lambda
sandbox that is frozen and thawed (or restored from a SnapStart snapshot) keeps its wall clock in step
while a monotonic clock may not count the time it spent frozen. Tests replace ``now`` with a fake clock.
"""

from __future__ import annotations

import time

now = time.time
