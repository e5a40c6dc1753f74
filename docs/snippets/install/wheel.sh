# Until powertools-sts is on PyPI: build the wheel from a checkout of the repository, then install it.
python -m pip wheel --no-deps -w dist .
pip install "dist/powertools_sts-0.1.0-py3-none-any.whl[aws-sdk]"
