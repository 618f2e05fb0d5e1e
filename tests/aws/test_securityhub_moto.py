"""``scangate securityhub`` against a real moto server: import, re-import, archive, identity.

moto stores and returns findings but does not apply Filters or the 100-per-call limit; those are
proven with recorded calls in test_securityhub_calls.py.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.aws import reports
from tests.support.moto_server import MotoServer

ACCOUNT = "123456789012"  # moto's default account, returned by STS GetCallerIdentity
PRODUCT = f"arn:aws:securityhub:us-east-1:{ACCOUNT}:product/{ACCOUNT}/default"
Cli = Callable[[list[str]], int]


def all_findings() -> list[dict[str, Any]]:
    client = boto3.client("securityhub")
    found: list[dict[str, Any]] = []
    for page in client.get_paginator("get_findings").paginate(MaxResults=100):
        found.extend(page["Findings"])
    return found


def test_import_and_reimport_1000_findings_each_exactly_once(
    moto: MotoServer, cli: Cli, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = reports.report(reports.many(1100), secrets=3, misconfigs=2)
    path = reports.write(tmp_path / "r.json", doc)
    started = time.monotonic()
    assert cli(["securityhub", "--report", path]) == 0
    first_seconds = time.monotonic() - started
    out = capsys.readouterr().out
    assert f"imported 1105 findings of 1 report(s) into {PRODUCT} in 12 call(s)" in out
    first = all_findings()
    ids = Counter(f["Id"] for f in first)
    assert len(ids) == 1105 and set(ids.values()) == {1}
    updated = {f["Id"]: f["UpdatedAt"] for f in first}

    started = time.monotonic()
    assert cli(["securityhub", "--report", path]) == 0
    second_seconds = time.monotonic() - started
    again = all_findings()
    assert Counter(f["Id"] for f in again) == ids, "a re-import must update, never duplicate"
    assert all(f["UpdatedAt"] > updated[f["Id"]] for f in again)
    assert {f["ProductArn"] for f in again} == {PRODUCT}
    assert {f["AwsAccountId"] for f in again} == {ACCOUNT}
    print(f"\n1,105-finding import against moto: {first_seconds:.1f} s, "
          f"re-import {second_seconds:.1f} s")


def test_archive_missing_archives_only_resolved_scangate_findings_of_the_resource(
    moto: MotoServer, cli: Cli, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old = reports.write(tmp_path / "old.json", reports.report(reports.many(300)))
    other_repo = reports.ECR_REPO.replace("team/app", "team/other")
    other = reports.write(tmp_path / "other.json",
                          reports.report(reports.many(20), repo=other_repo))
    assert cli(["securityhub", "--report", old, "--report", other]) == 0
    before = {f["Id"]: f for f in all_findings()}
    # Another tool's finding on the same resource, in the same (shared) default product.
    foreign = dict(next(iter(before.values())))
    foreign.update(Id="othertool/finding-1", GeneratorId="othertool/rule")
    boto3.client("securityhub").batch_import_findings(Findings=[foreign])

    # A rescan of the same digest no longer reports the first 40 vulnerabilities (4 of them were
    # in two packages): the advisories were withdrawn or the scanner learnt better.
    fixed = reports.write(tmp_path / "new.json",
                          reports.report(reports.many(300)[44:], tag="1.1"))
    capsys.readouterr()
    assert cli(["securityhub", "--report", fixed, "--archive-missing"]) == 0
    assert "archived 44 resolved" in capsys.readouterr().out

    after = {f["Id"]: f for f in all_findings()}
    states = Counter(f["RecordState"] for f in after.values())
    assert states == {"ACTIVE": 256 + 20 + 1, "ARCHIVED": 44}
    app_ids = [i for i, f in before.items()
               if f["Resources"][0]["Id"].endswith(f"repository/team/app/{reports.DIGEST}")]
    for ident in app_ids:
        finding = after[ident]
        assert finding["UpdatedAt"] > before[ident]["UpdatedAt"]
        # CreatedAt is the first import's, kept across the re-import and the archive.
        assert finding["CreatedAt"] == before[ident]["CreatedAt"]
    archived = [f for f in after.values() if f["RecordState"] == "ARCHIVED"]
    assert all(f["Resources"][0]["Id"].endswith(f"repository/team/app/{reports.DIGEST}")
               for f in archived)
    assert all("scangate/ArchivedReason" in f["ProductFields"] for f in archived)
    assert after["othertool/finding-1"]["RecordState"] == "ACTIVE"

    # Nothing left to archive: a second run archives nothing and changes no count.
    assert cli(["securityhub", "--report", fixed, "--archive-missing"]) == 0
    assert "archived 0 resolved" in capsys.readouterr().out
    assert Counter(f["RecordState"] for f in all_findings()) == states


def test_account_id_and_product_arn_flags(moto: MotoServer, cli: Cli, tmp_path: Path) -> None:
    path = reports.write(tmp_path / "r.json", reports.report(reports.many(3)))
    product = "arn:aws:securityhub:us-east-1:111122223333:product/111122223333/default"
    assert cli(["securityhub", "--report", path, "--account-id", "111122223333",
                "--product-arn", product]) == 0
    found = all_findings()
    assert {f["AwsAccountId"] for f in found} == {"111122223333"}
    assert {f["ProductArn"] for f in found} == {product}


def test_product_arn_in_another_region_than_region_is_an_error(
    moto: MotoServer, cli: Cli, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = reports.write(tmp_path / "r.json", reports.report(reports.many(3)))
    assert cli(["securityhub", "--report", path, "--region", "eu-west-1",
                "--product-arn", PRODUCT]) == 2
    assert "is in us-east-1 but --region is eu-west-1" in capsys.readouterr().err


def test_dry_run_writes_asff_without_calling_aws(
    aws_env: None, cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # An endpoint nothing listens on: any AWS call would fail the run.
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    path = reports.write(tmp_path / "r.json", reports.report(reports.many(150), secrets=1))
    out = tmp_path / "asff.json"
    assert cli(["securityhub", "--report", path, "--dry-run", "--asff-out", str(out),
                "--account-id", ACCOUNT, "--region", "eu-central-1"]) == 0
    records = json.loads(out.read_text())["Findings"]
    assert len(records) == 151
    assert {r["ProductArn"] for r in records} == {
        f"arn:aws:securityhub:eu-central-1:{ACCOUNT}:product/{ACCOUNT}/default"}
    assert "nothing sent" in capsys.readouterr().out
    assert not list(tmp_path.glob(".scangate-*")), "no temporary file left behind"


def test_dry_run_needs_an_account_and_refuses_archive(
    aws_env: None, cli: Cli, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = reports.write(tmp_path / "r.json", reports.report(reports.many(3)))
    assert cli(["securityhub", "--report", path, "--dry-run"]) == 2
    assert "needs --account-id" in capsys.readouterr().err
    assert cli(["securityhub", "--report", path, "--dry-run", "--archive-missing",
                "--account-id", ACCOUNT]) == 2
    assert "--archive-missing" in capsys.readouterr().err


def test_broken_report_is_exit_2_before_any_call(
    moto: MotoServer, cli: Cli, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"SchemaVersion": 2, "Results": [')
    assert cli(["securityhub", "--report", str(bad)]) == 2
    assert "not valid JSON" in capsys.readouterr().err
    assert all_findings() == []


def test_no_credentials_is_exit_2_with_the_fix(
    moto: MotoServer, cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    path = reports.write(tmp_path / "r.json", reports.report(reports.many(3)))
    assert cli(["securityhub", "--report", path]) == 2
    err = capsys.readouterr().err
    assert err.startswith("scangate: error: sts GetCallerIdentity")
    assert "no AWS credentials found" in err


IMAGE_ID = "sha256:" + "cd" * 32
PROD_DIGEST = reports.DIGEST
DEV_DIGEST = "sha256:" + "ef" * 32


def _pushed(tmp_path: Path, name: str, digest: str, tag: str) -> str:
    """The push result scangate push writes (image-uri, image-digest, tags, image-id)."""
    path = tmp_path / name
    path.write_text(json.dumps({"image-uri": f"{reports.ECR_REPO}@{digest}",
                                "image-digest": digest, "tags": [tag], "image-id": IMAGE_ID}))
    return str(path)


def _tarball_scan(tmp_path: Path, name: str, vulns: list[dict[str, Any]]) -> str:
    """Trivy's report of the `docker save` tarball: image ID and tags, no registry digest."""
    doc = reports.report(vulns, tag="local")
    doc["ArtifactName"] = "image.tar"
    del doc["Metadata"]["RepoDigests"]
    return reports.write(tmp_path / name, doc)


def _by_resource() -> dict[str, Counter[str]]:
    states: dict[str, Counter[str]] = {}
    for finding in all_findings():
        resource = finding["Resources"][0]["Id"]
        states.setdefault(resource, Counter())[finding["RecordState"]] += 1
    return states


def test_two_digests_of_one_repository_keep_separate_findings(
    moto: MotoServer, cli: Cli, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """prod and dev digests of one repository (the same image ID pushed twice is not needed:
    the resource is the digest). Archiving what dev no longer has leaves prod's findings
    ACTIVE; a re-import is idempotent (same Ids, no duplicates)."""
    prod = f"arn:aws:ecr:us-east-1:{ACCOUNT}:repository/team/app/{PROD_DIGEST}"
    dev = f"arn:aws:ecr:us-east-1:{ACCOUNT}:repository/team/app/{DEV_DIGEST}"
    scan = _tarball_scan(tmp_path, "scan.json", reports.many(30))
    assert cli(["securityhub", "--report", scan, "--archive-missing",
                "--push-result", _pushed(tmp_path, "prod.json", PROD_DIGEST, "prod-1")]) == 0
    assert cli(["securityhub", "--report", scan, "--archive-missing",
                "--image-uri", f"{reports.ECR_REPO}@{DEV_DIGEST}", "--tag", "dev-2",
                "--image-id", IMAGE_ID]) == 0
    assert _by_resource() == {prod: Counter(ACTIVE=30), dev: Counter(ACTIVE=30)}
    first = {f["Id"]: f for f in all_findings()}
    assert len(first) == 60
    tags = {f["Resources"][0]["Id"]: f["Resources"][0]["Details"]["AwsEcrContainerImage"]
            ["ImageTags"] for f in first.values()}
    assert tags == {prod: ["prod-1"], dev: ["dev-2"]}

    # dev's rescan no longer reports the first 10: only dev's 10 are archived.
    capsys.readouterr()
    fixed = _tarball_scan(tmp_path, "fixed.json", reports.many(30)[11:])
    assert cli(["securityhub", "--report", fixed, "--archive-missing",
                "--push-result", _pushed(tmp_path, "dev.json", DEV_DIGEST, "dev-2")]) == 0
    assert "archived 11 resolved" in capsys.readouterr().out
    assert _by_resource() == {prod: Counter(ACTIVE=30), dev: Counter(ACTIVE=19, ARCHIVED=11)}

    # Re-import of prod: the same 30 Ids updated, no duplicates, nothing archived.
    assert cli(["securityhub", "--report", scan, "--archive-missing",
                "--push-result", _pushed(tmp_path, "prod.json", PROD_DIGEST, "prod-1")]) == 0
    assert "archived 0 resolved" in capsys.readouterr().out
    again = all_findings()
    assert Counter(f["Id"] for f in again) == Counter(list(first))
    assert _by_resource() == {prod: Counter(ACTIVE=30), dev: Counter(ACTIVE=19, ARCHIVED=11)}


def test_failed_gate_import_names_repository_and_image_id(
    moto: MotoServer, cli: Cli, tmp_path: Path
) -> None:
    """Before a push there is no digest: REGISTRY/REPO@IMAGE-ID, distinct per repository (the
    same image built for two repositories is two resources, and archiving one leaves the other)."""
    scan = _tarball_scan(tmp_path, "scan.json", reports.many(5))
    assert cli(["securityhub", "--report", scan]) == 0
    other = reports.ECR_REPO.replace("team/app", "team/other")
    assert cli(["securityhub", "--report", scan, "--repository", other]) == 0
    empty = _tarball_scan(tmp_path, "empty.json", [])
    assert cli(["securityhub", "--report", empty, "--repository", other,
                "--archive-missing"]) == 0
    assert _by_resource() == {f"{reports.ECR_REPO}@{IMAGE_ID}": Counter(ACTIVE=5),
                              f"{other}@{IMAGE_ID}": Counter(ARCHIVED=5)}


def test_push_result_of_another_image_imports_nothing(
    moto: MotoServer, cli: Cli, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scan = _tarball_scan(tmp_path, "scan.json", reports.many(5))
    pushed = tmp_path / "push.json"
    pushed.write_text(json.dumps({"image-uri": f"{reports.ECR_REPO}@{PROD_DIGEST}",
                                  "tags": ["prod-1"], "image-id": "sha256:" + "99" * 32}))
    assert cli(["securityhub", "--report", scan, "--push-result", str(pushed)]) == 2
    assert "not of the pushed image" in capsys.readouterr().err
    assert all_findings() == []
