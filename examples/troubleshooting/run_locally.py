"""Invoke the X-Ray example's handler on a laptop, outside Lambda, as a quick check before deploying."""

from xray_capture import handler

print(handler({}, None))
