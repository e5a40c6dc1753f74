"""Where the package meets botocore: its own STS clients, and the only two private names it reads.

The user's sessions are ``boto3.Session()``'s; only their credentials are the package's, given
through botocore's public ``credential_provider`` component (:func:`use_credentials`). The package's
own STS clients (:func:`new_sts_client`) load models through a faster loader (public hooks only;
about 30 ms of a first STS client's 55) and are :func:`protect`-ed.

Private names, checked against botocore 1.44.18 (installed), ``develop`` (1.43.67, 2026-08-07) and
``feature/credential-refresh`` (2026-08-06); tests/unit/test_botocore_private.py names each that changes:

- ``BaseClient._make_api_call`` (:func:`api_call_patch`): the one entry point of every call; the
  ``sts_stub`` fixture wraps it to reach clients built before the test. No public hook reaches them.
- ``Config._user_provided_options`` (:func:`given_options`): what a ``Config`` was given, apart from
  its defaults (``Config.merge`` reads it too). Without it, every option's value.
"""

from __future__ import annotations

import functools
import gzip
import json
import logging
import os
import re
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import botocore.loaders
import botocore.session
from botocore.client import BaseClient
from botocore.config import Config
from botocore.credentials import CredentialProvider, CredentialResolver, ReadOnlyCredentials
from botocore.credentials import Credentials as BotocoreCredentials
from botocore.exceptions import BotoCoreError, DataNotFoundError

from . import _state, redaction

if TYPE_CHECKING:
    from .credentials import Credentials

__all__ = [
    "api_call_patch",
    "client_access_key",
    "given_options",
    "new_loader",
    "new_sts_client",
    "protect",
    "signer_access_key",
    "use_credentials",
]

logger = logging.getLogger("botocore.loaders")  # botocore's own "Loading JSON file" line, where users look for it
_SCOPE = re.compile(r"X-Amz-Credential=([^%/&]+)")  # the access key id of a presigned URL


def new_sts_client(config: Config, *, source: Callable[[], Credentials] | None = None) -> Any:
    """Return a new, protected STS client of the package's own, signed by ``source`` if given (a chained layer).

    The data path is botocore's (``AWS_DATA_PATH``, the profile's ``data_path``), read at each call.

    Example
    -------
    >>> from botocore import UNSIGNED
    >>> new_sts_client(Config(region_name="eu-west-1", signature_version=UNSIGNED)).meta.region_name
    'eu-west-1'
    """
    core = botocore.session.get_session()
    core.register_component("data_loader", _state.botocore_loader(core.get_config_variable("data_path")))
    if source is not None:
        use_credentials(core, source, None)
    return protect(core.create_client("sts", config=config))


def protect(client: Any) -> Any:
    """Keep the secrets of ``client``'s calls out of errors and botocore's logs; return ``client``. Idempotent.

    An answer botocore cannot parse is raised with its body (a cut AssumeRole answer holds the
    SecretAccessKey), which a wrapper of ``_make_api_call`` (OpenTelemetry's span) records at once;
    botocore emits ``after-call-error`` before it re-raises, so it is masked in place there. botocore
    logs response bodies at DEBUG: the redaction filter goes on its loggers before the first call.

    Example
    -------
    >>> from botocore import UNSIGNED
    >>> client = new_sts_client(Config(region_name="eu-west-1", signature_version=UNSIGNED))
    >>> protect(client) is client
    True
    """
    from .tenants import annotate

    redaction.install()
    client.meta.events.register("after-call-error", _mask_error, unique_id="powertools-sts-mask-error")
    client.meta.events.register("before-call.sts", annotate, unique_id="powertools-sts-tenant")
    return client


def _mask_error(exception: BaseException | None = None, **kwargs: Any) -> None:
    if exception is not None:
        redaction.mask_exception(exception)


def use_credentials(core: Any, source: Callable[[], Credentials], handed_out: Callable[[str], None] | None) -> None:
    """Have botocore session ``core`` sign with ``source``'s current credentials; ``handed_out`` hears each new key id.

    Example
    -------
    >>> from datetime import datetime, timezone
    >>> from powertools_sts import Credentials
    >>> core = botocore.session.get_session()
    >>> use_credentials(core, lambda: Credentials("ASIAEX", "s", "t", datetime(2030, 1, 1, tzinfo=timezone.utc)), None)
    >>> core.get_credentials().access_key
    'ASIAEX'
    """
    core.register_component("credential_provider", CredentialResolver([_Following(source, handed_out)]))


class _Following(BotocoreCredentials, CredentialProvider):
    """botocore credentials that are, at every read, the current ones of their source.

    No refresh policy of botocore's: the source (an entry) decides when credentials change and
    raises ``AssumeRoleError`` when it has none to give (past the floor), so nothing botocore kept
    is ever signed with. While the source hands out the same credentials, a read is a comparison.
    Its own provider: botocore's resolver loads it once per session.
    """

    METHOD = CANONICAL_NAME = "custom-powertools-sts"  # botocore's rule: other providers' names start "custom"

    def __init__(self, source: Callable[[], Credentials], handed_out: Callable[[str], None] | None) -> None:
        # Not botocore's __init__: it would store the keys these properties read from the source.
        self.method, self.account_id = "powertools-sts", None
        self._source, self._handed_out = source, handed_out
        self._last = ReadOnlyCredentials(None, None, None)

    def load(self) -> _Following:
        """Return these credentials, as botocore's credential resolver asks its providers."""
        return self

    def get_frozen_credentials(self) -> ReadOnlyCredentials:
        """Return the source's current credentials, as botocore's signer reads them before each request."""
        current, last = self._source(), self._last
        if last.access_key == current.access_key_id:
            return last
        last = self._last = ReadOnlyCredentials(current.access_key_id, current.secret_access_key, current.session_token)
        if self._handed_out is not None:
            self._handed_out(current.access_key_id)
        return last

    # botocore's are plain attributes; these read the source too (older code, other libraries).
    access_key = property(lambda self: self.get_frozen_credentials().access_key)
    secret_key = property(lambda self: self.get_frozen_credentials().secret_key)
    token = property(lambda self: self.get_frozen_credentials().token)


def client_access_key(client: Any) -> str | None:
    """Return the access key id ``client`` signs with now (None: unsigned), from a presigned URL: public, local.

    Example
    -------
    >>> from botocore import UNSIGNED
    >>> client_access_key(new_sts_client(Config(region_name="eu-west-1", signature_version=UNSIGNED))) is None
    True
    """
    try:
        found = _SCOPE.search(client.generate_presigned_url("get_caller_identity", ExpiresIn=60))
    except BotoCoreError:  # no credentials at all
        return None
    return found.group(1) if found else None


def signer_access_key(request_signer: Any) -> str | None:
    """Return the access key id a ``RequestSigner`` (a ``before-call`` handler's) signs with (None: unsigned).

    Example
    -------
    >>> signer_access_key(None) is None
    True
    """
    try:
        auth = request_signer.get_auth_instance(request_signer.signing_name, request_signer.region_name)
    except (AttributeError, BotoCoreError):  # unsigned (botocore knows no auth of that name), or no signer
        return None
    key = getattr(getattr(auth, "credentials", None), "access_key", None)
    return str(key) if key else None


def api_call_patch(before: Callable[[Any, str], None]) -> tuple[type, str, Callable[..., Any]]:
    """Return ``(BaseClient, "_make_api_call", wrapper)`` for ``monkeypatch.setattr``: ``before(client, operation)`` runs first.

    Example
    -------
    >>> api_call_patch(lambda client, operation: None)[1]
    '_make_api_call'
    """
    original = BaseClient._make_api_call  # type: ignore[attr-defined]

    @functools.wraps(original)
    def make_api_call(client: Any, operation_name: str, api_params: Any) -> Any:
        before(client, operation_name)
        return original(client, operation_name, api_params)

    return BaseClient, "_make_api_call", make_api_call


def given_options(config: Config) -> dict[str, Any]:
    """Return the options ``config`` was given, not its defaults.

    Example
    -------
    >>> given_options(Config(retries={"max_attempts": 2}))
    {'retries': {'max_attempts': 2}}
    """
    given = getattr(config, "_user_provided_options", None)
    return given if type(given) is dict else {name: getattr(config, name, None) for name in Config.OPTION_DEFAULTS}


class _DictFileLoader(botocore.loaders.JSONFileLoader):
    """botocore's JSON file loader, decoding into plain dictionaries.

    botocore builds an ``OrderedDict`` per JSON object through a Python hook (every first client
    reads the whole of ``endpoints.json``); plain decoding stays in C, and a ``dict`` keeps its order.
    """

    def load_file(self, file_path: str) -> Any:
        """Load ``file_path`` + ``.json`` or ``.json.gz``; a file of another format as botocore does."""
        for extension, opener in ((".json", open), (".json.gz", gzip.open)):
            if os.path.isfile(file_path + extension):
                with opener(file_path + extension, "rb") as fp:
                    payload = fp.read().decode("utf-8")
                logger.debug("Loading JSON file: %s", file_path + extension)
                return json.loads(payload)
        return super().load_file(file_path)


class _ServiceLoader(botocore.loaders.Loader):
    """botocore's ``Loader``, except that loading a service's model does not list every service.

    botocore lists the 400-odd folders of every data path to check that the asked service is one
    (twice per first client; its pull request #3687 proposes to stop). This checks the asked one
    alone, and leaves an unknown name to botocore's walk and its error naming every service.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._found = threading.local()  # the (service, type) a load of this thread found already

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
        """Return botocore's list, except within a ``load_service_model`` that found its service: that one."""
        found = getattr(self._found, "service", None)
        if found is not None and found[1] == type_name:
            return [found[0]]
        return super().list_available_services(type_name)

    def _exists(self, service_name: str, type_name: str) -> bool:
        # A plain folder name with a version folder that holds a model of the type: what the walk checks.
        if not isinstance(service_name, str) or service_name in ("", ".", "..") or os.sep in service_name:
            return False
        try:
            return bool(self.list_api_versions(service_name, type_name))
        except DataNotFoundError:
            return False


def new_loader(data_path: str | None) -> botocore.loaders.Loader:
    """Return a data loader on ``data_path`` (``AWS_DATA_PATH``'s form), as ``botocore.loaders.create_loader`` would.

    Example
    -------
    >>> new_loader(None).load_service_model("sts", "service-2")["metadata"]["endpointPrefix"]
    'sts'
    """
    given = data_path.split(os.pathsep) if data_path is not None else []
    paths = [os.path.expanduser(os.path.expandvars(path)) for path in given]
    return _ServiceLoader(extra_search_paths=paths, file_loader=_DictFileLoader())
