"""The botocore data loader of the package's sessions: botocore's, less two costs of a first client.

botocore's ``Loader.load_service_model`` first lists every service that has a model of the asked
type (``list_available_services``: a directory listing and a file check for each of the 400-odd
services of every data path), only to check that the asked service is among them and to name them
all in ``UnknownServiceError``. The first client of a loader pays that walk twice (``service-2`` and
``endpoint-rule-set-1``): about 900 directory listings and 1,800 file checks, on a file system that
is cold in a new Lambda environment (botocore's pull request #3687 proposes to drop the walk). This
loader checks the asked service alone (``list_api_versions``: its own folder in each data path, what
the walk checks for it) and leaves everything else to botocore: the model, its extras and its
caches, and, for a service that is not there, botocore's walk and its error with every known name.

Its files are decoded into plain dictionaries, not botocore's ``OrderedDict``: since Python 3.7 a
dictionary keeps its keys' order, and the ``object_pairs_hook`` that builds an ``OrderedDict`` per
JSON object runs Python code for every object of botocore's largest file, ``endpoints.json``, which
every first client reads, where plain decoding stays in C. Neither botocore nor boto3 uses a method
or a comparison that only an ``OrderedDict`` has on the data they load; tests compare the models
this loader returns with botocore's, key order included. What the loader saves in a cold start is
measured in docs/benchmarks.md, section 7 (``make bench``).

The loader is built once per process by :func:`powertools_sts._state.botocore_loader`.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from typing import Any

import botocore.exceptions
import botocore.loaders

__all__ = ["ServiceLoader", "create_loader"]

logger = logging.getLogger("botocore.loaders")  # botocore's own "Loading JSON file" line, where users look for it


class _DictJSONFileLoader(botocore.loaders.JSONFileLoader):
    """Botocore's JSON file loader, decoding into plain dictionaries (see the module's docstring)."""

    # botocore's _load_file, less the OrderedDict hook; .json and .json.gz stay botocore's to choose.
    def _load_file(self, full_path: str, open_method: Any) -> Any:
        if not os.path.isfile(full_path):
            return None
        with open_method(full_path, "rb") as fp:
            payload = fp.read().decode("utf-8")
        logger.debug("Loading JSON file: %s", full_path)
        return json.loads(payload)


class ServiceLoader(botocore.loaders.Loader):
    """botocore's ``Loader``, except that loading one service's model does not list every service.

    Example
    -------
    >>> loader = create_loader()
    >>> loader.load_service_model("sts", "service-2")["metadata"]["endpointPrefix"]
    'sts'
    """

    FILE_LOADER_CLASS = _DictJSONFileLoader

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The (service, type) a load_service_model call of this thread has found: its listing is that service.
        self._found = threading.local()

    def load_service_model(self, service_name: str, type_name: str, api_version: str | None = None) -> Any:
        """Load a model as botocore does, checking that ``service_name`` exists without listing the others."""
        if not self._exists(service_name, type_name):
            return super().load_service_model(service_name, type_name, api_version=api_version)
        self._found.service = (service_name, type_name)
        try:
            return super().load_service_model(service_name, type_name, api_version=api_version)
        finally:
            self._found.service = None

    def list_available_services(self, type_name: str) -> list[str]:
        """Return botocore's list, except within ``load_service_model`` for a service found already: that one alone."""
        found = getattr(self._found, "service", None)
        if found is not None and found[1] == type_name:
            return [found[0]]
        services: list[str] = super().list_available_services(type_name)
        return services

    def _exists(self, service_name: str, type_name: str) -> bool:
        # What the walk decides for this one name: a folder of that name in a data path, with a version
        # folder that holds a model of the type. A name that is not a plain folder name takes botocore's way.
        if not isinstance(service_name, str) or service_name in ("", ".", ".."):
            return False
        if os.sep in service_name or (os.altsep is not None and os.altsep in service_name):
            return False
        try:
            self.list_api_versions(service_name, type_name)
        except botocore.exceptions.DataNotFoundError:
            return False
        return True


def create_loader(search_path_string: str | None = None) -> ServiceLoader:
    """Return a :class:`ServiceLoader` on ``AWS_DATA_PATH``'s paths, as ``botocore.loaders.create_loader`` does.

    Example
    -------
    >>> isinstance(create_loader(), botocore.loaders.Loader)
    True
    """
    if search_path_string is None:
        return ServiceLoader()
    paths = [os.path.expanduser(os.path.expandvars(path)) for path in search_path_string.split(os.pathsep)]
    return ServiceLoader(extra_search_paths=paths)
