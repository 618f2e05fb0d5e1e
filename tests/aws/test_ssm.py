"""SSM Parameter Store: policies and thresholds, against a real moto server."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest
from pytest_httpserver import HTTPServer
from scangate.aws.ssm import load_policy_from_ssm, thresholds_from_ssm
from scangate.errors import AwsError, PolicyError
from scangate.severity import Severity

from tests.aws import reports
from tests.support.moto_server import MotoServer

PREFIX = "/container-security/vulnerability-thresholds"
POLICY = """\
version: 1
thresholds:
  critical: 0
  high: 5
ignore_unfixed: true
"""


def _ssm() -> Any:
    return boto3.client("ssm")


def _put(name: str, value: str, kind: str = "String") -> None:
    _ssm().put_parameter(Name=name, Value=value, Type=kind, Overwrite=True)


def _put_thresholds(**values: str) -> None:
    for key, value in values.items():
        _put(f"{PREFIX}/{key}", value)


def test_policy_from_secure_string(moto: MotoServer) -> None:
    _put("/scangate/policy", POLICY, "SecureString")
    policy = load_policy_from_ssm("/scangate/policy")
    assert policy.thresholds == {Severity.CRITICAL: 0, Severity.HIGH: 5}
    assert policy.ignore_unfixed is True
    assert policy.source == "ssm:/scangate/policy"


def test_policy_missing_parameter_names_it(moto: MotoServer) -> None:
    with pytest.raises(AwsError, match=r"ssm:/scangate/nope: parameter not found in region "
                                       r"us-east-1"):
        load_policy_from_ssm("/scangate/nope")


def test_policy_invalid_document_is_a_policy_error(moto: MotoServer) -> None:
    _put("/scangate/bad", "version: 1\nthresholds:\n  critical: lots\n")
    with pytest.raises(PolicyError, match=r"^ssm:/scangate/bad: invalid policy: thresholds"):
        load_policy_from_ssm("/scangate/bad")


def test_policy_string_list_is_refused(moto: MotoServer) -> None:
    _put("/scangate/list", "a,b", "StringList")
    with pytest.raises(PolicyError, match="StringList"):
        load_policy_from_ssm("/scangate/list")


def test_policy_relative_hierarchical_name_is_refused(moto: MotoServer) -> None:
    with pytest.raises(AwsError, match="must start with '/'"):
        load_policy_from_ssm("scangate/policy")


def test_thresholds_all_four_and_optional_unknown(moto: MotoServer) -> None:
    _put_thresholds(critical="0", high="3", medium="10", low="100")
    assert thresholds_from_ssm(PREFIX) == {
        Severity.CRITICAL: 0, Severity.HIGH: 3, Severity.MEDIUM: 10, Severity.LOW: 100,
    }
    _put(f"{PREFIX}/unknown", "7", "SecureString")
    assert thresholds_from_ssm(PREFIX + "/")[Severity.UNKNOWN] == 7


def test_thresholds_missing_severity_means_no_limit(moto: MotoServer) -> None:
    """The seed defines critical 0, high 5, medium 20 and nothing for low: no limit."""
    _put_thresholds(critical="0", high="5", medium="20")
    assert thresholds_from_ssm(PREFIX) == {
        Severity.CRITICAL: 0, Severity.HIGH: 5, Severity.MEDIUM: 20,
    }
    _put_thresholds(high="3")
    _ssm().delete_parameters(Names=[f"{PREFIX}/critical", f"{PREFIX}/medium"])
    assert thresholds_from_ssm(PREFIX) == {Severity.HIGH: 3}


def test_thresholds_prefix_without_any_parameter_is_an_error(moto: MotoServer) -> None:
    """A mistyped prefix must not become "no limits" (every image would pass)."""
    _put_thresholds(critical="0", high="5", medium="20")
    with pytest.raises(AwsError) as caught:
        thresholds_from_ssm(PREFIX + "-typo")
    assert f"ssm:{PREFIX}-typo: no threshold parameter" in caught.value.message
    assert f"{PREFIX}-typo/critical" in caught.value.message


@pytest.mark.parametrize("value", ["-1", "three", "1.5", "   ", "0x10", "+3", "1 2"])
def test_thresholds_invalid_values_are_errors(moto: MotoServer, value: str) -> None:
    _put_thresholds(critical="0", high="3", medium="4", low="5")
    _put(f"{PREFIX}/high", value)
    with pytest.raises(AwsError, match=rf"ssm:{PREFIX}/high: .* (negative|not a whole number)"):
        thresholds_from_ssm(PREFIX)


def test_thresholds_every_bad_parameter_named_at_once(moto: MotoServer) -> None:
    _put_thresholds(critical="x", high="3", medium="-2", low="5", unknown="y")
    with pytest.raises(AwsError) as caught:
        thresholds_from_ssm(PREFIX)
    for key in ("critical", "medium", "unknown"):
        assert f"{PREFIX}/{key}" in caught.value.message


def test_no_credentials_is_a_clear_error(moto: MotoServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(AwsError, match="no AWS credentials found"):
        thresholds_from_ssm(PREFIX)


# --- through the gate ------------------------------------------------------------------------


def test_gate_policy_and_thresholds_from_ssm(
    moto: MotoServer, cli: Callable[[list[str]], int], tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    vulns = [reports.vulnerability(n, f"lib{n}", severity="HIGH") for n in range(4)]
    path = reports.write(tmp_path / "r.json", reports.report(vulns))
    _put("/scangate/policy", POLICY, "SecureString")  # high: 5
    assert cli(["gate", "--report", path, "--policy", "ssm:/scangate/policy", "--quiet"]) == 0
    _put_thresholds(critical="0", high="3", medium="10", low="100")
    assert cli(["gate", "--report", path, "--thresholds-from-ssm", PREFIX, "--quiet"]) == 1
    _put(f"{PREFIX}/high", "4")
    assert cli(["gate", "--report", path, "--thresholds-from-ssm", PREFIX, "--quiet"]) == 0
    capsys.readouterr()
    _ssm().delete_parameter(Name=f"{PREFIX}/low")
    assert cli(["gate", "--report", path, "--thresholds-from-ssm", PREFIX, "--quiet"]) == 0
    assert cli(["gate", "--report", path, "--thresholds-from-ssm", "/nothing/here",
                "--quiet"]) == 2
    assert "ssm:/nothing/here: no threshold parameter" in capsys.readouterr().err
    assert cli(["gate", "--report", path, "--policy", "ssm:/scangate/none", "--quiet"]) == 2
    assert "ssm:/scangate/none: parameter not found" in capsys.readouterr().err


def test_botocore_retries_throttled_ssm_calls(aws_env: None, httpserver: HTTPServer,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """SSM (like ECR, STS, SNS) keeps botocore's standard retries: shown with an endpoint that
    throttles once. A local HTTP server stands in for AWS because moto cannot throttle."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", httpserver.url_for("/"))
    throttled = json.dumps({"__type": "ThrottlingException", "message": "Rate exceeded"})
    httpserver.expect_ordered_request("/", method="POST").respond_with_data(
        throttled, status=400, content_type="application/x-amz-json-1.1")
    values = [{"Name": f"{PREFIX}/{k}", "Type": "String", "Value": "1", "Version": 1}
              for k in ("critical", "high", "medium", "low")]
    httpserver.expect_ordered_request("/", method="POST").respond_with_data(
        json.dumps({"Parameters": values, "InvalidParameters": [f"{PREFIX}/unknown"]}),
        content_type="application/x-amz-json-1.1")
    assert thresholds_from_ssm(PREFIX) == dict.fromkeys(
        (Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM, Severity.LOW), 1)
    assert len(httpserver.log) == 2
    assert httpserver.log[0][0].headers["X-Amz-Target"] == "AmazonSSM.GetParameters"
