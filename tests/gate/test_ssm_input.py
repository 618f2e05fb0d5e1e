"""The gate's SSM inputs against a real moto server: the region flag the gate really has, limits
beyond 64 bits, and --fail-on against looser thresholds from Parameter Store."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest
from scangate._cli import main

from tests.support.moto_server import MotoServer
from tests.support.reports import image_report, vuln, write

PREFIX = "/scangate-test/thresholds"


def _put(name: str, value: str) -> None:
    boto3.client("ssm", region_name="us-east-1").put_parameter(
        Name=name, Value=value, Type="String", Overwrite=True)


def test_the_region_comes_from_gates_own_flag(
    moto: MotoServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _put(f"{PREFIX}/critical", "1")
    monkeypatch.delenv("AWS_REGION")
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    report = write(tmp_path / "r.json", image_report([vuln(severity="CRITICAL")]))
    assert main(["gate", "--report", report, "--thresholds-from-ssm", PREFIX, "--quiet"]) == 2
    assert "--aws-region" in capsys.readouterr().err
    assert main(["gate", "--report", report, "--thresholds-from-ssm", PREFIX, "--quiet",
                 "--aws-region", "us-east-1"]) == 0


def test_half_a_role_is_an_error(moto: MotoServer, tmp_path: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    report = write(tmp_path / "r.json", image_report([vuln(severity="CRITICAL")]))
    assert main(["gate", "--report", report, "--thresholds-from-ssm", PREFIX, "--quiet",
                 "--role-arn", "arn:aws:iam::123456789012:role/gate"]) == 2
    assert "--web-identity-token-file" in capsys.readouterr().err


def test_a_threshold_beyond_64_bits_is_refused(
    moto: MotoServer, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    _put(f"{PREFIX}/critical", str(2**64))
    report = write(tmp_path / "r.json", image_report([vuln(severity="CRITICAL")]))
    summary = tmp_path / "summary.json"
    assert main(["gate", "--report", report, "--thresholds-from-ssm", PREFIX,
                 "--json-summary", str(summary), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert f"{PREFIX}/critical" in err and "Traceback" not in err
    assert not summary.exists()


def test_fail_on_is_stricter_than_a_looser_ssm_threshold(
    moto: MotoServer, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    _put(f"{PREFIX}/critical", "5")
    report = write(tmp_path / "r.json", image_report([vuln(severity="CRITICAL")]))
    assert main(["gate", "--report", report, "--thresholds-from-ssm", PREFIX, "--quiet"]) == 0
    assert main(["gate", "--report", report, "--thresholds-from-ssm", PREFIX,
                 "--fail-on", "HIGH"]) == 1
    assert "critical kept at 0, not 5: --fail-on HIGH is stricter" in capsys.readouterr().err
