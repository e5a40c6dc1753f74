"""The package's botocore data loader: botocore's answers, without listing every service's folder.

Real botocore data on disk; ``os.listdir`` is wrapped only to count which folders are listed.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import botocore.loaders
import botocore.session
import pytest
from botocore.exceptions import UnknownServiceError

from powertools_sts import _loader, _state
from powertools_sts.sessions import new_botocore_session


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


def test_the_first_sts_client_lists_no_data_path(listed: list[str]) -> None:
    loader = _loader.create_loader()
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
    ours, theirs = _loader.create_loader(), botocore.loaders.create_loader()
    assert _same(ours.load_service_model(service, type_name), theirs.load_service_model(service, type_name))
    assert ours.load_service_model(service, type_name, api_version=None) is ours.load_service_model(
        service, type_name, api_version=None
    )


@pytest.mark.parametrize("name", ["no-such-service", "", ".", "..", "../botocore/data/sts", "sts/2011-06-15"])
def test_an_unknown_service_is_botocore_s_error_with_every_name(name: str) -> None:
    with pytest.raises(UnknownServiceError) as raised:
        _loader.create_loader().load_service_model(name, "service-2")
    assert "Valid service names are: " in str(raised.value)
    assert "sts" in str(raised.value.kwargs["known_service_names"]).split(", ")


def test_a_service_without_a_model_of_the_type_is_unknown() -> None:
    # sts has no waiters: botocore's listing of waiters-2 does not name it, and neither does this loader.
    assert "sts" not in botocore.loaders.create_loader().list_available_services("waiters-2")
    with pytest.raises(UnknownServiceError):
        _loader.create_loader().load_service_model("sts", "waiters-2")


def test_the_listing_outside_a_load_is_botocore_s() -> None:
    ours, theirs = _loader.create_loader(), botocore.loaders.create_loader()
    ours.load_service_model("sts", "service-2")
    assert ours.list_available_services("service-2") == theirs.list_available_services("service-2")
    session = botocore.session.get_session()
    session.register_component("data_loader", ours)
    assert session.get_available_services() == theirs.list_available_services("service-2")


def test_aws_data_path_models_are_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A model in AWS_DATA_PATH (a private service, a newer model) is loaded as botocore loads it."""
    model = json.loads(json.dumps(botocore.loaders.create_loader().load_service_model("sts", "service-2")))
    model["metadata"]["serviceId"] = "Private STS"
    folder = tmp_path / "private-sts" / "2011-06-15"
    folder.mkdir(parents=True)
    (folder / "service-2.json").write_text(json.dumps(model))
    loader = _loader.create_loader(f"{tmp_path}{os.pathsep}~/nowhere")
    assert loader.search_paths[:2] == [str(tmp_path), os.path.expanduser("~/nowhere")]
    assert loader.load_service_model("private-sts", "service-2")["metadata"]["serviceId"] == "Private STS"
    monkeypatch.setenv("AWS_DATA_PATH", str(tmp_path))
    monkeypatch.setattr(_state, "_loader", None)
    assert isinstance(_state.botocore_loader(), _loader.ServiceLoader)
    assert str(tmp_path) in _state.botocore_loader().search_paths


def test_the_package_s_sessions_share_the_loader() -> None:
    first, second = new_botocore_session(), new_botocore_session()
    assert first.get_component("data_loader") is second.get_component("data_loader") is _state.botocore_loader()
    assert isinstance(_state.botocore_loader(), _loader.ServiceLoader)


@pytest.mark.parametrize("name", ["endpoints", "partitions", "sdk-default-configuration", "_retry"])
def test_data_files_are_botocore_s_as_plain_dictionaries(name: str) -> None:
    ours, theirs = _loader.create_loader().load_data(name), botocore.loaders.create_loader().load_data(name)
    assert _same(ours, theirs)
    assert type(ours) is dict
    assert type(theirs) is not dict  # botocore's OrderedDict: what the package's loader does not build


def test_a_missing_file_is_none_as_in_botocore(tmp_path: Path) -> None:
    assert _loader.create_loader().file_loader.load_file(str(tmp_path / "absent")) is None
