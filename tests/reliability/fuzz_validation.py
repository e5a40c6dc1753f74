"""atheris (libFuzzer) harness of the validation entry point; run by test_bad_input in a subprocess.

Usage: ``python tests/reliability/fuzz_validation.py -runs=20000``. The fuzzer's bytes are decoded into
nested Python values (dicts keyed mostly by AssumeRole parameter names, lists, strings, numbers) and
given to ``validate_assume_role_params`` and to ``sts(fetch_data=..., max_age=..., refresh_margin=...)``
with prefetch off. Anything but ConfigurationError or TypeError is a crash; so is any STS request
(the endpoint is a dead loopback port, and no fetch may even be attempted).
"""

from __future__ import annotations

import contextlib
import sys
from typing import Any

import atheris

# Only this package is instrumented: botocore, boto3 and Powertools would take half a minute.
with atheris.instrument_imports(include=["powertools_sts"]):
    from powertools_sts import ConfigurationError, sts
    from powertools_sts.validation import ASSUME_ROLE_PARAMETERS, validate_assume_role_params

NAMES = (*ASSUME_ROLE_PARAMETERS, "RoleARN", "SerialNumber", "Key", "Value", "arn", "ProviderArn", "ContextAssertion")
TEXTS = (
    "arn:aws:iam::111122223333:role/reports",
    "arn:aws:iam::aws:policy/ReadOnlyAccess",
    "orders-fn",
    '{"Version": "2012-10-17"}',
    "team",
)


def value(fdp: atheris.FuzzedDataProvider, depth: int = 0) -> Any:
    kind = fdp.ConsumeIntInRange(0, 9 if depth < 3 else 6)
    if kind == 0:
        return None
    if kind == 1:
        return fdp.ConsumeBool()
    if kind == 2:
        return fdp.ConsumeIntInRange(-(2**63), 2**63)
    if kind == 3:
        return fdp.ConsumeRegularFloat() if fdp.ConsumeBool() else fdp.ConsumeFloat()
    if kind == 4:
        return fdp.ConsumeUnicodeNoSurrogates(fdp.ConsumeIntInRange(0, 80))
    if kind == 5:
        return TEXTS[fdp.ConsumeIntInRange(0, len(TEXTS) - 1)]
    if kind == 6:
        return fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 8))
    if kind == 7:
        return [value(fdp, depth + 1) for _ in range(fdp.ConsumeIntInRange(0, 4))]
    return mapping(fdp, depth + 1)


def mapping(fdp: atheris.FuzzedDataProvider, depth: int = 0) -> dict[Any, Any]:
    out: dict[Any, Any] = {}
    for _ in range(fdp.ConsumeIntInRange(0, 5)):
        if fdp.ConsumeBool():
            key: Any = NAMES[fdp.ConsumeIntInRange(0, len(NAMES) - 1)]
        else:
            key = fdp.ConsumeUnicodeNoSurrogates(6)
        out[key] = value(fdp, depth)
    return out


def one_input(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    params = mapping(fdp) if fdp.ConsumeBool() else value(fdp)
    with contextlib.suppress(ConfigurationError):
        validate_assume_role_params(params, entry="fuzz")
    options = {}
    if fdp.ConsumeBool():
        options["max_age"] = value(fdp, 3)
    if fdp.ConsumeBool():
        options["refresh_margin"] = value(fdp, 3)
    with contextlib.suppress(ConfigurationError, TypeError):
        sts(fetch_data={"fuzz": params} if fdp.ConsumeBool() else params, disable_prefetch=True, **options)


if __name__ == "__main__":
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()
