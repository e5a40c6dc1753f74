make test                                              # everything, the reliability suite included
make soak                                              # the long runs: HYPOTHESIS_PROFILE=soak pytest -m soak tests/reliability
.venv/bin/python -m tests.reliability.report           # the reliability suite as make test runs it, and its figures
.venv/bin/python -m tests.reliability.report --soak    # the same for make soak
.venv/bin/python -m tests.reliability.report --write   # and docs/snippets/reliability/ rewritten from the run
