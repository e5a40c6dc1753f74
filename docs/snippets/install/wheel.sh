# Until powertools-sts is on PyPI: build the wheel from a checkout of the repository, then install it from dist/.
python -m pip wheel --no-deps -w dist .
pip install --find-links dist "powertools-sts[aws-sdk,tracer]"
