"""_botocore: the package's own STS clients (their data loader, data path and protection) and how it reads signers.

Real botocore data on disk; ``os.listdir`` is wrapped only to count which folders are listed.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import botocore.loaders
import botocore.session
import pytest
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import UnknownServiceError

import powertools_sts
from powertools_sts import _botocore, _state

REGION = Config(region_name="eu-west-1")


@pytest.fixture
def listed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every folder ``os.listdir`` lists while the test runs, in order."""
    folders: list[str] = []
    real = os.listdir

    def counting(path: str = ".") -> list[str]:
        folders.append(os.path.normpath(os.fspath(path)))
        return real(path)

    monkeypatch.setattr(os, "listdir", counting)
    return folders


def private_sts(root: Path, documentation: str) -> Path:
    """An STS model of the installed botocore's, with another ``documentation``, in data path ``root``."""
    model = json.loads(json.dumps(botocore.loaders.create_loader().load_service_model("sts", "service-2")))
    model["documentation"] = documentation
    folder = root / "sts" / model["metadata"]["apiVersion"]
    folder.mkdir(parents=True)
    (folder / "service-2.json").write_text(json.dumps(model))
    return root


# -- the data loader ------------------------------------------------------------------------------------


def test_the_first_sts_client_lists_no_data_path(listed: list[str]) -> None:
    loader = _botocore.new_loader(None)
    roots = {os.path.normpath(path) for path in loader.search_paths}
    core = botocore.session.get_session()
    core.register_component("data_loader", loader)
    core.create_client("sts", region_name="eu-west-1")
    assert roots.isdisjoint(listed)  # botocore's own loader lists each root once per model type
    assert {Path(folder).name for folder in listed} == {"sts"}
    assert len(listed) == 2  # sts's own folder: once for service-2, once for endpoint-rule-set-1


def test_botocore_s_loader_lists_every_root_for_the_same_client(listed: list[str]) -> None:
    """What the subclass saves: the test above fails against botocore's own loader."""
    loader = botocore.loaders.create_loader()
    core = botocore.session.get_session()
    core.register_component("data_loader", loader)
    core.create_client("sts", region_name="eu-west-1")
    roots = {os.path.normpath(path) for path in loader.search_paths if os.path.isdir(path)}
    assert listed.count(os.path.normpath(loader.BUILTIN_DATA_PATH)) == 2
    assert roots <= set(listed)


def _same(ours: object, theirs: object) -> bool:
    """Equal, with every mapping's keys in the same order (an OrderedDict equals a dict whatever the order)."""
    return ours == theirs and json.dumps(ours, default=str) == json.dumps(theirs, default=str)


@pytest.mark.parametrize("service", ["sts", "s3", "dynamodb", "lambda"])
@pytest.mark.parametrize("type_name", ["service-2", "endpoint-rule-set-1", "paginators-1"])
def test_models_are_botocore_s(service: str, type_name: str) -> None:
    ours, theirs = _botocore.new_loader(None), botocore.loaders.create_loader()
    assert _same(ours.load_service_model(service, type_name), theirs.load_service_model(service, type_name))
    assert ours.load_service_model(service, type_name, api_version=None) is ours.load_service_model(
        service, type_name, api_version=None
    )


@pytest.mark.parametrize("name", ["no-such-service", "", ".", "..", "../botocore/data/sts", "sts/2011-06-15"])
def test_an_unknown_service_is_botocore_s_error_with_every_name(name: str) -> None:
    with pytest.raises(UnknownServiceError) as raised:
        _botocore.new_loader(None).load_service_model(name, "service-2")
    assert "Valid service names are: " in str(raised.value)
    assert "sts" in str(raised.value.kwargs["known_service_names"]).split(", ")


def test_a_service_without_a_model_of_the_type_is_unknown() -> None:
    # sts has no waiters: botocore's listing of waiters-2 does not name it, and neither does this loader.
    assert "sts" not in botocore.loaders.create_loader().list_available_services("waiters-2")
    with pytest.raises(UnknownServiceError):
        _botocore.new_loader(None).load_service_model("sts", "waiters-2")


def test_the_listing_outside_a_load_is_botocore_s() -> None:
    ours, theirs = _botocore.new_loader(None), botocore.loaders.create_loader()
    ours.load_service_model("sts", "service-2")
    assert ours.list_available_services("service-2") == theirs.list_available_services("service-2")


@pytest.mark.parametrize("name", ["endpoints", "partitions", "sdk-default-configuration", "_retry"])
def test_data_files_are_botocore_s_as_plain_dictionaries(name: str) -> None:
    ours, theirs = _botocore.new_loader(None).load_data(name), botocore.loaders.create_loader().load_data(name)
    assert _same(ours, theirs)
    assert type(ours) is dict
    assert type(theirs) is not dict  # botocore's OrderedDict: what the package's loader does not build


def test_a_missing_file_is_none_as_in_botocore(tmp_path: Path) -> None:
    assert _botocore.new_loader(None).file_loader.load_file(str(tmp_path / "absent")) is None


def test_the_loader_needs_no_private_hook_of_botocore_s(monkeypatch: pytest.MonkeyPatch) -> None:
    """A botocore whose JSON loader no longer has the private ``_load_file`` the package once overrode."""
    real = botocore.loaders.JSONFileLoader._load_file  # type: ignore[attr-defined]

    def load_file(self: Any, file_path: str) -> Any:  # botocore's, without the private step
        for extension in (".json", ".json.gz"):
            data = real(self, file_path + extension, botocore.loaders._JSON_OPEN_METHODS[extension])  # type: ignore[attr-defined]
            if data is not None:
                return data
        return None

    monkeypatch.setattr(botocore.loaders.JSONFileLoader, "load_file", load_file)
    monkeypatch.delattr(botocore.loaders.JSONFileLoader, "_load_file")
    monkeypatch.setattr(_state, "_loaders", {})
    client = _botocore.new_sts_client(REGION)
    assert client.meta.service_model.operation_model("AssumeRole").name == "AssumeRole"
    assert _state.botocore_loader().load_service_model("s3", "service-2")["metadata"]["serviceId"] == "S3"


def test_a_file_of_a_format_it_does_not_read_is_left_to_botocore(tmp_path: Path) -> None:
    (tmp_path / "data.json.gz").write_bytes(b"not gzip")  # unreadable: not the one read
    loader = _botocore.new_loader(None).file_loader
    assert loader.load_file(str(tmp_path / "nothing")) is None
    (tmp_path / "plain.json").write_text('{"a": {"b": 1}}')
    assert loader.load_file(str(tmp_path / "plain")) == {"a": {"b": 1}}


# -- the data path of the package's STS clients ------------------------------------------------------------


def test_aws_data_path_is_honoured_and_read_again_at_each_client(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A model in AWS_DATA_PATH (a private service, a newer model) is what the STS client uses, as in botocore."""
    builtin = _botocore.new_sts_client(REGION).meta.service_model.documentation
    monkeypatch.setenv("AWS_DATA_PATH", f"{private_sts(tmp_path, 'from AWS_DATA_PATH')}{os.pathsep}~/nowhere")
    assert _botocore.new_sts_client(REGION).meta.service_model.documentation == "from AWS_DATA_PATH"
    assert _state.botocore_loader().search_paths[:2] == [str(tmp_path), os.path.expanduser("~/nowhere")]
    monkeypatch.delenv("AWS_DATA_PATH")
    assert _botocore.new_sts_client(REGION).meta.service_model.documentation == builtin


def test_an_sts_provider_sees_a_changed_aws_data_path_after_clear_caches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    provider = powertools_sts.STSProvider(boto_config=REGION)
    builtin = provider._sts_client().meta.service_model.documentation
    monkeypatch.setenv("AWS_DATA_PATH", str(private_sts(tmp_path, "changed")))
    assert provider._sts_client().meta.service_model.documentation == builtin  # the client is kept...
    powertools_sts.clear_caches()
    assert provider._sts_client().meta.service_model.documentation == "changed"  # ...until a reset


def test_the_profile_s_data_path_is_honoured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "config"
    config.write_text(f"[default]\ndata_path = {private_sts(tmp_path / 'models', 'from the profile')}\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    client = powertools_sts.STSProvider(boto_config=REGION)._sts_client()
    assert client.meta.service_model.documentation == "from the profile"


def test_clients_grow_nothing_and_loaders_are_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_state, "_loaders", {})
    first = _botocore.new_sts_client(REGION)
    loader = _state.botocore_loader(None)
    paths = list(loader.search_paths)
    for _ in range(200):
        powertools_sts.clear_caches()
        _botocore.new_sts_client(REGION)
    assert _state.botocore_loader(None) is loader
    assert loader.search_paths == paths
    for index in range(_state._LOADERS_MAX * 3):
        _state.botocore_loader(str(tmp_path / str(index)))
    assert len(_state._loaders) == _state._LOADERS_MAX
    assert first.meta.region_name == "eu-west-1"


# -- protection, and who signs -----------------------------------------------------------------------------


def test_protect_masks_an_error_in_place_once_however_often_it_is_called() -> None:
    client = _botocore.new_sts_client(REGION)
    assert _botocore.protect(_botocore.protect(client)) is client
    error = ValueError("invalid XML: b'<SecretAccessKey>wJalr</SecretAccessKey><SessionToken>FQoG")
    answered = client.meta.events.emit("after-call-error.sts.AssumeRole", exception=error, context={})
    assert [handler for handler, _ in answered].count(_botocore._mask_error) == 1
    assert str(error) == "invalid XML: b'<SecretAccessKey>***</SecretAccessKey><SessionToken>***"


def test_who_signs_a_client_and_a_signer(moto_sts: Any) -> None:
    keys = Config(region_name="eu-west-1")
    session = botocore.session.get_session()
    session.set_credentials("AKIDEXAMPLE", "secret")
    client = session.create_client("sts", config=keys)
    assert _botocore.client_access_key(client) == "AKIDEXAMPLE"
    assert _botocore.signer_access_key(client._request_signer) == "AKIDEXAMPLE"
    unsigned = session.create_client("sts", config=Config(region_name="eu-west-1", signature_version=UNSIGNED))
    assert _botocore.client_access_key(unsigned) is None
    assert _botocore.signer_access_key(unsigned._request_signer) is None
