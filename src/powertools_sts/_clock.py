"""The one clock every cache decision reads: wall-clock epoch seconds, which tests replace.

Not ``time.monotonic``: credentials expire on the wall clock, and a monotonic clock may not count the
time a Lambda sandbox spent frozen (or restored from a SnapStart snapshot).
"""

import time

now = time.time
