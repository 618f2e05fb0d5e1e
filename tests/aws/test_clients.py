"""`scangate.aws.clients`: every Session reads botocore's data through one loader per process,
and is otherwise new, so nothing about credentials, region or endpoint is carried over.

botocore parses its endpoint, partition and service-model JSON once per loader; a new Session
made a new loader (about 0.1 s of CPU per client, in each monitor Lambda invocation and each AWS
step). The sharing must not change what a session reads from the environment.
"""

from __future__ import annotations

import os
from pathlib import Path

import boto3
import pytest
from scangate.aws import clients


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def _loader(session: object) -> object:
    return session._session.get_component("data_loader")  # type: ignore[attr-defined]


def test_sessions_share_one_loader_with_boto3s_search_paths() -> None:
    plain = boto3.session.Session()
    first, second = clients.new_session(), clients.new_session(region_name="eu-west-1")
    assert first is not second and first._session is not second._session
    assert _loader(first) is _loader(second)
    assert _loader(plain) is not _loader(first)
    # The same places in the same order as boto3's own Session looks, and boto3's append on
    # every new Session does not make the shared list grow.
    for _ in range(3):
        clients.new_session()
    assert _loader(first).search_paths == _loader(plain).search_paths  # type: ignore[attr-defined]


def test_each_client_reads_credentials_region_and_endpoint_afresh(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for key, region, endpoint in (("AKIAFIRST", "us-east-1", "http://127.0.0.1:1"),
                                  ("AKIASECOND", "eu-west-1", "http://127.0.0.1:2")):
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", key)
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
        monkeypatch.setenv("AWS_DEFAULT_REGION", region)
        monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
        sqs = clients.client("sqs")
        assert sqs._request_signer._credentials.access_key == key
        assert sqs.meta.region_name == region
        assert sqs.meta.endpoint_url == endpoint
        assert clients.resolve_region(None) == region
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    with pytest.raises(Exception, match="no AWS region"):
        clients.resolve_region(None)


def test_an_explicit_session_keeps_its_own_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """A role assumed with the CI ID token (scangate.aws.identity) is a session of its own."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAAMBIENT")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    role = clients.new_session(aws_access_key_id="ASIAROLE", aws_secret_access_key="s",
                               aws_session_token="t", region_name="us-west-2")
    assumed = clients.client("sns", session=role)
    assert assumed._request_signer._credentials.access_key == "ASIAROLE"
    assert assumed.meta.region_name == "us-west-2"
    ambient = clients.client("sns", "us-west-2")
    assert ambient._request_signer._credentials.access_key == "AKIAAMBIENT"


def test_aws_data_path_gets_a_loader_of_its_own(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """AWS_DATA_PATH (botocore's `data_path`) is honoured as by a plain Session: its models
    come first, and a session without it does not see them."""
    models = tmp_path / "models"
    models.mkdir()
    default = clients.new_session()
    monkeypatch.setenv("AWS_DATA_PATH", str(models))
    custom = clients.new_session()
    assert _loader(custom) is not _loader(default)
    assert _loader(custom).search_paths[0] == str(models)  # type: ignore[attr-defined]
    assert _loader(custom).search_paths == \
        _loader(boto3.session.Session()).search_paths  # type: ignore[attr-defined]
    assert str(models) not in _loader(default).search_paths  # type: ignore[attr-defined]
    assert _loader(clients.new_session()) is _loader(custom)
    assert "eu-west-1" in custom.get_available_regions("sqs")
