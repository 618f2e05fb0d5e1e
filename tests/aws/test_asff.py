"""ASFF conversion: ids, resources, the Vulnerabilities object and every length limit.

No AWS here: records are checked against botocore's own Security Hub model (the shape AWS
validates requests with) and against the limits in platform-limits.md.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore.validate import ParamValidator
from scangate.aws.asff import (
    DESCRIPTION_MAX,
    FINDING_MAX_BYTES,
    ID_MAX,
    TITLE_MAX,
    Destination,
    Identity,
    build_records,
    fit,
    newer_than,
    size_of,
)
from scangate.aws.image import from_uri, load_push_result
from scangate.errors import UsageError
from scangate.findings import Report
from scangate.registry.reference import parse_repository
from scangate.report import load_reports, parse_report

from tests.aws import reports
from tests.aws.conftest import SHARED

NOW = dt.datetime(2025, 6, 2, 12, 0, 0, 123456, tzinfo=dt.UTC)
DEST = Destination(
    account_id="123456789012", region="us-east-1", partition="aws",
    product_arn="arn:aws:securityhub:us-east-1:123456789012:product/123456789012/default",
)
GOLDENS = SHARED / "conformance" / "trivy-goldens"


def _parse(doc: dict[str, Any], name: str = "r.json") -> Report:
    return parse_report(json.dumps(doc).encode(), name)


def _records(*docs: dict[str, Any]) -> list[dict[str, Any]]:
    return build_records([_parse(d, f"r{i}.json") for i, d in enumerate(docs)], DEST,
                         NOW).records


def validate_asff(records: list[dict[str, Any]]) -> None:
    """What Security Hub would reject: botocore's model, plus the documented limits."""
    model = botocore.session.get_session().get_service_model("securityhub")
    shape = model.operation_model("BatchImportFindings").input_shape
    report = ParamValidator().validate({"Findings": records}, shape)
    assert not report.has_errors(), report.generate_report()
    for record in records:
        assert len(record["Id"]) <= ID_MAX and len(record["GeneratorId"]) <= ID_MAX
        assert len(record["Title"]) <= TITLE_MAX
        assert len(record["Description"]) <= DESCRIPTION_MAX
        assert size_of(record) <= FINDING_MAX_BYTES
        assert 1 <= len(record["Resources"]) <= 32 and len(record["Types"]) <= 50
        _no_blank_strings(record, record["Id"])


def _no_blank_strings(value: Any, where: str) -> None:
    # Security Hub's string pattern is '.*\S.*': an empty or blank string is rejected.
    if isinstance(value, str):
        assert value.strip(), f"blank string in {where}"
    elif isinstance(value, dict):
        for key, item in value.items():
            _no_blank_strings(item, f"{where}.{key}")
    elif isinstance(value, list):
        for item in value:
            _no_blank_strings(item, where)


def test_ids_unique_per_package_stable_across_rescans_and_tags_of_one_digest() -> None:
    vulns = [reports.vulnerability(1, "openssl"), reports.vulnerability(1, "libssl3"),
             reports.vulnerability(2, "openssl")]
    first = _records(reports.report(vulns, tag="1.0"))
    again = _records(reports.report(vulns, tag="prod-1a2b3c4-7-1"))
    ids = [r["Id"] for r in first]
    assert len(set(ids)) == 3, "the same CVE in two packages must be two findings"
    assert ids == [r["Id"] for r in again], "a rescan of the same digest must update"
    assert all(i.startswith("scangate/") and len(i) == 94 for i in ids)


def test_two_digests_of_one_repository_never_share_a_finding() -> None:
    """prod and dev builds of one repository: archiving what dev fixed must not touch prod."""
    vulns = [reports.vulnerability(1, "openssl")]
    prod = _records(reports.report(vulns, tag="prod-1"))
    dev = _records(reports.report(vulns, tag="dev-2", digest="sha256:" + "ef" * 32))
    assert prod[0]["Id"] != dev[0]["Id"]
    assert prod[0]["Resources"][0]["Id"] != dev[0]["Resources"][0]["Id"]


def test_same_finding_in_two_repositories_is_two_findings() -> None:
    vulns = [reports.vulnerability(1, "openssl")]
    one = _records(reports.report(vulns))
    other = _records(reports.report(vulns, repo=reports.ECR_REPO.replace("team/app", "team/b")))
    assert one[0]["Id"] != other[0]["Id"]


def test_repeated_finding_across_reports_is_imported_once() -> None:
    doc = reports.report([reports.vulnerability(1, "openssl")])
    built = build_records([_parse(doc, "a.json"), _parse(doc, "b.json")], DEST, NOW)
    assert len(built.records) == 1 and built.duplicates == 1


def test_ecr_image_resource_is_the_image_digest() -> None:
    """Inspector's Id form for an ECR image (platform-rules.md, AWS) and the Details of
    AwsEcrContainerImageDetails (Security Hub API reference)."""
    record = _records(reports.report([reports.vulnerability(1, "openssl")]))[0]
    resource = record["Resources"][0]
    assert resource["Type"] == "AwsEcrContainerImage"
    assert resource["Id"] == (
        f"arn:aws:ecr:us-east-1:123456789012:repository/team/app/{reports.DIGEST}")
    assert resource["Details"]["AwsEcrContainerImage"] == {
        "RegistryId": "123456789012", "RepositoryName": "team/app",
        "ImageDigest": reports.DIGEST, "ImageTags": ["1.0"], "Architecture": "amd64",
    }
    assert record["ProductFields"]["scangate/ImageDigest"] == reports.DIGEST
    validate_asff([record])


@pytest.mark.parametrize(("host", "partition", "region"), [
    ("123456789012.dkr-ecr.eu-west-1.on.aws", "aws", "eu-west-1"),
    ("123456789012.dkr-ecr-fips.us-gov-west-1.on.aws", "aws-us-gov", "us-gov-west-1"),
    ("123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn", "aws-cn", "cn-north-1"),
])
def test_every_ecr_endpoint_form_is_an_ecr_image(host: str, partition: str, region: str) -> None:
    """An image pushed through the dual-stack endpoint <account>.dkr-ecr.<region>.on.aws is the
    same ECR image as through dkr.ecr (Amazon ECR User Guide, "Making requests to Amazon ECR
    registries"), so its findings sit on the same AwsEcrContainerImage resource."""
    doc = reports.report([reports.vulnerability(1, "openssl")], repo=f"{host}/team/app")
    resource = _records(doc)[0]["Resources"][0]
    assert resource["Type"] == "AwsEcrContainerImage"
    assert resource["Id"] == (
        f"arn:{partition}:ecr:{region}:123456789012:repository/team/app/{reports.DIGEST}")
    assert (resource["Partition"], resource["Region"]) == (partition, region)


def _tarball_report(repo: str = reports.ECR_REPO, tag: str = "prod-1a2b3c4-7-1") -> dict[str, Any]:
    """What Trivy reports for a `docker save` tarball: an image ID and tags, no registry digest."""
    doc = reports.report([reports.vulnerability(1, "openssl")], repo=repo, tag=tag)
    doc["ArtifactName"] = "image.tar"
    del doc["Metadata"]["RepoDigests"]
    return doc


IMAGE_ID = "sha256:" + "cd" * 32


def test_push_result_makes_the_pushed_image_the_resource(tmp_path: Path) -> None:
    pushed = tmp_path / "push.json"
    pushed.write_text(json.dumps({
        "image-uri": f"{reports.ECR_REPO}@{reports.DIGEST}", "image-digest": reports.DIGEST,
        "tags": ["prod-1a2b3c4-7-1"], "image-id": IMAGE_ID,
        "pushed-at": "2025-06-01T10:00:00Z",
    }))
    identity = Identity(pushed=load_push_result(str(pushed)))
    (record,) = build_records([_parse(_tarball_report())], DEST, NOW,
                              identity=identity).records
    resource = record["Resources"][0]
    assert resource["Id"] == (
        f"arn:aws:ecr:us-east-1:123456789012:repository/team/app/{reports.DIGEST}")
    assert resource["Details"]["AwsEcrContainerImage"]["ImageTags"] == ["prod-1a2b3c4-7-1"]
    assert resource["Details"]["AwsEcrContainerImage"]["ImagePublishedAt"] == (
        "2025-06-01T10:00:00.000Z")
    validate_asff([record])
    # The same scan of the same digest named by flags: the same finding.
    flags = Identity(pushed=from_uri(f"{reports.ECR_REPO}@{reports.DIGEST}", [], IMAGE_ID))
    (again,) = build_records([_parse(_tarball_report())], DEST, NOW, identity=flags).records
    assert again["Id"] == record["Id"]


def test_push_result_of_another_image_is_refused() -> None:
    other = Identity(pushed=from_uri(f"{reports.ECR_REPO}@{reports.DIGEST}", [],
                                     "sha256:" + "99" * 32))
    with pytest.raises(UsageError, match="not of the pushed image"):
        build_records([_parse(_tarball_report())], DEST, NOW, identity=other)
    unknown = Identity(pushed=from_uri(f"{reports.ECR_REPO}@{'sha256:' + '77' * 32}", []))
    with pytest.raises(UsageError, match="pass --image-id"):
        build_records([_parse(_tarball_report())], DEST, NOW, identity=unknown)


def test_before_a_push_the_resource_is_repository_and_image_id() -> None:
    (record,) = _records(_tarball_report())
    resource = record["Resources"][0]
    assert resource["Type"] == "Container"
    assert resource["Id"] == f"{reports.ECR_REPO}@{IMAGE_ID}"
    assert resource["Details"]["Container"]["ImageId"] == IMAGE_ID
    # The same image ID built for another repository is another resource, another finding.
    (other,) = _records(_tarball_report(repo=reports.ECR_REPO.replace("team/app", "team/b")))
    assert other["Id"] != record["Id"]
    validate_asff([record, other])


def test_before_a_push_an_image_without_a_registry_name_needs_repository() -> None:
    doc = _tarball_report(repo="app")
    with pytest.raises(UsageError, match="--repository"):
        _records(doc)
    identity = Identity(repository=parse_repository(reports.ECR_REPO, "--repository"))
    (record,) = build_records([_parse(doc)], DEST, NOW, identity=identity).records
    assert record["Resources"][0]["Id"] == f"{reports.ECR_REPO}@{IMAGE_ID}"


def test_other_registry_is_a_container_and_a_filesystem_is_other() -> None:
    image = _records(reports.report([reports.vulnerability(1, "openssl")],
                                    repo="registry.example.test:5000/team/app"))[0]
    assert image["Resources"][0]["Type"] == "Container"
    assert image["Resources"][0]["Id"] == f"registry.example.test:5000/team/app@{reports.DIGEST}"
    assert image["Resources"][0]["Details"]["Container"]["ImageId"] == IMAGE_ID
    doc = reports.report([reports.vulnerability(1, "openssl")])
    doc.update(ArtifactType="filesystem", ArtifactName="/src/project", Metadata={})
    other = _records(doc)[0]
    assert other["Resources"][0]["Type"] == "Other"
    assert other["Resources"][0]["Id"] == "project"
    identity = Identity(repository=parse_repository(reports.ECR_REPO, "--repository"))
    (named,) = build_records([_parse(doc)], DEST, NOW, identity=identity).records
    assert named["Resources"][0]["Id"] == f"{reports.ECR_REPO}/project"
    validate_asff([image, other, named])


@pytest.mark.parametrize("uri", [
    f"{reports.ECR_REPO}:1.0",
    f"{reports.ECR_REPO}:1.0@{reports.DIGEST}",
    "team/app@" + reports.DIGEST,
    f"{reports.ECR_REPO}@sha256:abc",
    f"{reports.ECR_REPO.upper()}@{reports.DIGEST}",
])
def test_image_uri_must_be_registry_repository_at_digest(uri: str) -> None:
    with pytest.raises(UsageError):
        from_uri(uri, [])


@pytest.mark.parametrize(("content", "fragment"), [
    ("[]", "not a JSON object"),
    ("{", "not valid JSON"),
    ("{}", "no image-uri"),
    (json.dumps({"image-uri": f"{reports.ECR_REPO}@{reports.DIGEST}",
                 "image-digest": "sha256:" + "00" * 32}), "inconsistent"),
    (json.dumps({"image-uri": f"{reports.ECR_REPO}@{reports.DIGEST}", "tags": ["bad tag"]}),
     "not a valid tag"),
])
def test_broken_push_result_is_a_usage_error(tmp_path: Path, content: str,
                                             fragment: str) -> None:
    path = tmp_path / "push.json"
    path.write_text(content)
    with pytest.raises(UsageError, match=fragment):
        load_push_result(str(path))


def test_vulnerability_fields() -> None:
    record = _records(reports.report([reports.vulnerability(7, "openssl", severity="HIGH")]))[0]
    assert record["Types"] == ["Software and Configuration Checks/Vulnerabilities/CVE"]
    assert record["Severity"] == {"Label": "HIGH", "Original": "HIGH"}
    assert record["FindingProviderFields"]["Severity"] == record["Severity"]
    assert record["GeneratorId"] == "scangate/trivy/vulnerability/CVE-2024-00007"
    assert record["RecordState"] == "ACTIVE" and record["Workflow"] == {"Status": "NEW"}
    assert record["UpdatedAt"] == "2025-06-02T12:00:00.123Z"
    assert record["CreatedAt"] == record["LastObservedAt"] == "2025-06-01T10:00:00.123Z"
    vuln = record["Vulnerabilities"][0]
    assert vuln["Id"] == "CVE-2024-00007"
    assert vuln["VulnerablePackages"] == [{
        "Name": "openssl", "Version": "1.0-7", "PackageManager": "debian",
        "FixedInVersion": "1.1-7", "Remediation": "Upgrade to 1.1-7",
    }]
    assert {"Version": "3.1", "BaseScore": 9.8, "Source": "nvd",
            "BaseVector": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"} in vuln["Cvss"]
    assert {"Version": "2.0", "BaseScore": 7.5, "Source": "nvd",
            "BaseVector": "AV:N/AC:L/Au:N/C:P/I:P/A:P"} in vuln["Cvss"]
    assert vuln["Vendor"] == {
        "Name": "nvd", "Url": "https://avd.aquasec.com/nvd/cve-2024-00007",
        "VendorSeverity": "HIGH", "VendorCreatedAt": "2024-01-02T03:04:05.000Z",
        "VendorUpdatedAt": "2024-02-03T04:05:06.123Z",
    }
    assert vuln["FixAvailable"] == "YES"
    assert vuln["ReferenceUrls"][0] == "https://avd.aquasec.com/nvd/cve-2024-00007"
    fields = record["ProductFields"]
    assert fields["scangate/Fingerprint"] in record["Id"]
    assert fields["scangate/Version"] and fields["scangate/Kind"] == "vulnerability"
    unfixed = _records(reports.report([reports.vulnerability(8, "zlib", fixed=False)]))[0]
    assert unfixed["Vulnerabilities"][0]["FixAvailable"] == "NO"
    validate_asff([record, unfixed])


def test_secrets_and_misconfigurations() -> None:
    records = _records(reports.report([], secrets=2, misconfigs=2))
    kinds = sorted(r["ProductFields"]["scangate/Kind"] for r in records)
    assert kinds == ["misconfiguration", "misconfiguration", "secret", "secret"]
    for record in records:
        assert "Vulnerabilities" not in record
        if record["ProductFields"]["scangate/Kind"] == "misconfiguration":
            assert record["Compliance"] == {"Status": "FAILED"}
        else:
            assert record["Types"] == ["Sensitive Data Identifications/Passwords"]
            assert "****" not in json.dumps(record["Remediation"])
    validate_asff(records)


def test_unknown_severity_is_informational_with_the_original_kept() -> None:
    record = _records(reports.report([reports.vulnerability(1, "x", severity="UNKNOWN")]))[0]
    assert record["Severity"] == {"Label": "INFORMATIONAL", "Original": "UNKNOWN"}


def test_long_fields_are_truncated_with_a_marker_never_refused() -> None:
    vuln = reports.vulnerability(1, "p" * 300)
    vuln["Title"] = "t" * 5000
    vuln["Description"] = "d" * 50_000
    vuln["VulnerabilityID"] = "X-" + "9" * 900
    vuln["References"] = [f"https://example.test/{n}/" + "r" * 400 for n in range(2000)]
    doc = reports.report([vuln], repo="123456789012.dkr.ecr.us-east-1.amazonaws.com/" + "n" * 250)
    record = _records(doc)[0]
    assert record["Title"].endswith("[truncated by scangate]") and len(record["Title"]) == 256
    assert record["Description"].endswith("[truncated by scangate]")
    assert len(record["Description"]) == DESCRIPTION_MAX
    assert len(record["GeneratorId"]) == ID_MAX and len(record["Id"]) == 94
    assert size_of(record) <= FINDING_MAX_BYTES
    assert "ReferenceUrls" in record["ProductFields"]["scangate/Truncated"]
    assert record["Vulnerabilities"][0]["ReferenceUrls"][0] == vuln["PrimaryURL"]
    validate_asff([record])


def test_fit_cuts_shared_resource_tags_on_a_copy() -> None:
    doc = reports.report([reports.vulnerability(1, "a"), reports.vulnerability(2, "b")])
    doc["Metadata"]["RepoTags"] = [f"{reports.ECR_REPO}:t{n}" for n in range(40)]
    records = _records(doc)
    tags = records[0]["Resources"][0]["Details"]["AwsEcrContainerImage"]["ImageTags"]
    assert len(tags) == 40
    small = fit(records[0], limit=size_of(records[0]) - 150)
    assert "ImageTags" in small["ProductFields"]["scangate/Truncated"]
    assert len(records[1]["Resources"][0]["Details"]["AwsEcrContainerImage"]["ImageTags"]) == 40


def test_updated_at_is_strictly_newer_than_what_exists() -> None:
    assert newer_than(NOW, "2025-06-02T12:00:00.123Z") == "2025-06-02T12:00:00.124Z"
    assert newer_than(NOW, "2030-01-01T00:00:00.000Z") == "2030-01-01T00:00:00.001Z"
    assert newer_than(NOW, "2020-01-01T00:00:00Z") == "2025-06-02T12:00:00.123Z"


def test_existing_created_at_is_kept() -> None:
    report = _parse(reports.report([reports.vulnerability(1, "openssl")]))
    first = build_records([report], DEST, NOW).records[0]
    existing = {first["Id"]: {"CreatedAt": "2024-01-01T00:00:00.000Z",
                              "FirstObservedAt": "2024-01-01T00:00:00.000Z",
                              "UpdatedAt": "2025-06-02T12:00:00.500Z"}}
    again = build_records([report], DEST, NOW, existing).records[0]
    assert again["CreatedAt"] == again["FirstObservedAt"] == "2024-01-01T00:00:00.000Z"
    assert again["UpdatedAt"] == "2025-06-02T12:00:00.501Z"


@pytest.mark.skipif(not GOLDENS.is_dir(), reason="../shared/conformance/trivy-goldens is absent "
                    "(only in the project's shared checkout)")
def test_every_trivy_golden_converts_to_valid_asff() -> None:
    paths = sorted(GOLDENS.glob("*.json.golden"))
    assert paths
    for path in paths:
        loaded = load_reports([str(path)])
        built = build_records(loaded, DEST, NOW)
        findings = sum(len(r.findings) for r in loaded)
        assert len(built.records) + built.duplicates == findings, path.name
        assert len({r["Id"] for r in built.records}) == len(built.records), path.name
        validate_asff(built.records)


@pytest.mark.skipif(not (GOLDENS / "alpine-310.asff.golden").is_file(),
                    reason="../shared/conformance/trivy-goldens is absent")
def test_trivy_template_collides_where_scangate_does_not() -> None:
    """Trivy's asff.tpl keys findings on Target/CVE; scangate keeps one per package."""
    golden = json.loads((GOLDENS / "alpine-310.asff.golden").read_text())["Findings"]
    loaded = load_reports([str(GOLDENS / "alpine-310.json.golden")])
    ours = build_records(loaded, DEST, NOW).records
    assert len(ours) == len(loaded[0].findings)
    assert len({f["Id"] for f in golden}) <= len(ours)


def test_reports_are_written_by_the_test(tmp_path: Path) -> None:
    path = reports.write(tmp_path / "r.json", reports.report(reports.many(25)))
    assert len(load_reports([path])[0].findings) == 25
