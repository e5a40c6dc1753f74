"""A function module whose sts options are invalid: its import (the INIT phase) must fail."""

from __future__ import annotations

from powertools_sts import sts


@sts(fetch_data={"reports": {"RoleArn": "arn:aws:iam::111122223333:role/reports", "DurationSeconds": 60}})
def handler(event, context):
    return "never"
