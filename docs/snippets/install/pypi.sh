# Once powertools-sts is published on PyPI (it is not yet):
pip install "powertools-sts[aws-sdk,tracer]"
