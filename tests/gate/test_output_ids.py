"""Finding identities are forever: SARIF fingerprints, GitLab ids and Security Hub ids of known
findings are pinned, so a change of scheme (which would duplicate every alert after an upgrade)
fails here; and no two findings share one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from scangate._cli import main
from scangate.aws.asff import finding_id
from scangate.report import load_reports

from tests.support.reports import fs_report, image_report, misconfig, secret, vuln, write

IMAGE = image_report([
    vuln("CVE-2024-0001", pkg="openssl", installed="3.0.1-1", severity="CRITICAL"),
    vuln("CVE-2024-0002", pkg="zlib", installed="1.2.13", fixed="", severity="LOW"),
], name="registry.example/team/app:1.0")
FILES = fs_report([
    {"Target": "deploy/.env", "Class": "secret", "Secrets": [secret(line=3)]},
    {"Target": "Dockerfile", "Class": "config", "Type": "dockerfile",
     "Misconfigurations": [misconfig(line=4)]},
])
ECR_RESOURCE = "arn:aws:ecr:eu-west-1:123456789012:repository/team/app"

# Values written by scangate 0.x for the findings above. Never edit them to make a test pass:
# a change here re-opens every alert of every user (see the module docstring).
PINNED: dict[str, dict[str, tuple[str, str, str]]] = {
    # rule id: (scangate/v1 fingerprint, GitLab vulnerability id, Security Hub finding id)
    "image": {
        "CVE-2024-0001": (
            "8a230dfd0bab572f3aa577b9aba4195f5c08fcaf0b17c7b19e76e96aaad0d1a4",
            "8003ef90-7ae8-5552-b3be-4d3318041128",
            "scangate/c757a9f28792c730a140/"
            "8a230dfd0bab572f3aa577b9aba4195f5c08fcaf0b17c7b19e76e96aaad0d1a4"),
        "CVE-2024-0002": (
            "01af262d989bbe9c432ff340381112e08cf09d8174abcc6b5c9a1d659a1e8c6c",
            "3336cb1a-1fbc-5b7a-bc6a-182744136511",
            "scangate/c757a9f28792c730a140/"
            "01af262d989bbe9c432ff340381112e08cf09d8174abcc6b5c9a1d659a1e8c6c"),
    },
    "files": {
        "aws-access-key-id": (
            "f2476de70a97f630fe34f630c67da679ceb1723d31593a4f1cb3b4b76cb99b0c",
            "3c35b6c7-4dd3-5b81-adad-8fa45ae42034",
            "scangate/c757a9f28792c730a140/"
            "f2476de70a97f630fe34f630c67da679ceb1723d31593a4f1cb3b4b76cb99b0c"),
        "DS-0002": (
            "0c58d18c09f892e869bb45f8db2922bfe4eee4c2009a01c158dc5002abed2a25",
            "6faa25bc-5baa-55ad-837c-f0b2625cf9a9",
            "scangate/c757a9f28792c730a140/"
            "0c58d18c09f892e869bb45f8db2922bfe4eee4c2009a01c158dc5002abed2a25"),
    },
}


def outputs(tmp_path: Path, doc: dict[str, Any], name: str) -> tuple[Any, Any, str]:
    report = write(tmp_path / f"{name}.json", doc)
    sarif, gitlab = tmp_path / f"{name}.sarif", tmp_path / f"{name}.gl.json"
    assert main(["gate", "--quiet", "--max-critical", "99", "--report", report,
                 "--sarif", str(sarif), "--gitlab-report", str(gitlab)]) == 0
    return (json.loads(sarif.read_text(encoding="utf-8")),
            json.loads(gitlab.read_text(encoding="utf-8")), report)


@pytest.mark.parametrize("name", ["image", "files"])
def test_ids_of_known_findings_never_change(tmp_path: Path, name: str) -> None:
    sarif, gitlab, report = outputs(tmp_path, IMAGE if name == "image" else FILES, name)
    pinned = PINNED[name]
    results = sarif["runs"][0]["results"]
    assert sorted(r["ruleId"] for r in results) == sorted(pinned)
    for result in results:
        fingerprint = pinned[result["ruleId"]][0]
        assert result["partialFingerprints"] == {
            "primaryLocationLineHash": f"{fingerprint[:32]}:1", "scangate/v1": fingerprint}
    assert {v["identifiers"][0]["value"]: v["id"] for v in gitlab["vulnerabilities"]} == {
        rule: ids[1] for rule, ids in pinned.items()}
    (loaded,) = load_reports([report])
    assert {f.id: finding_id(ECR_RESOURCE, f) for f in loaded.findings} == {
        rule: ids[2] for rule, ids in pinned.items()}


def _all_ids(sarif: Any, gitlab: Any) -> tuple[list[str], list[str], list[str]]:
    results = sarif["runs"][0]["results"]
    return ([r["partialFingerprints"]["scangate/v1"] for r in results],
            [r["partialFingerprints"]["primaryLocationLineHash"] for r in results],
            [v["id"] for v in gitlab["vulnerabilities"]])


def test_dot_env_and_env_are_two_findings(tmp_path: Path) -> None:
    """Under the artifact name '.', the target '.env' once lost its '.' as if it were the
    artifact's name, and became the finding 'env'."""
    doc = fs_report([{"Target": target, "Class": "secret", "Secrets": [secret(line=1)]}
                     for target in (".env", "env", "app.py", ".")], name=".")
    sarif, gitlab, report = outputs(tmp_path, doc, "dots")
    for ids in _all_ids(sarif, gitlab):
        assert len(set(ids)) == 4, ids
    (loaded,) = load_reports([report])
    assert len({finding_id(ECR_RESOURCE, f) for f in loaded.findings}) == 4


def test_identical_rows_are_distinct_and_stable(tmp_path: Path) -> None:
    """Trivy can list one row twice: two alerts, each with its own stable identity."""
    row = vuln("CVE-2024-0009", pkg="busybox")
    doc = image_report([row, dict(row), dict(row)])
    first = _all_ids(*outputs(tmp_path, doc, "one")[:2])
    again = _all_ids(*outputs(tmp_path, doc, "two")[:2])
    assert first == again
    for ids in first:
        assert len(set(ids)) == 3, ids
    fingerprints, line_hashes, _ = first
    # The first occurrence keeps the plain fingerprint: adding a duplicate later does not
    # change the identity of the alert that already exists.
    (single,) = _all_ids(*outputs(tmp_path, image_report([row]), "single")[:2])[0]
    assert fingerprints[0] == single
    assert [h.rsplit(":", 1)[1] for h in line_hashes] == ["1", "2", "3"]


@pytest.mark.parametrize("kind", ["secret", "misconfiguration"])
def test_ignore_unfixed_never_applies_to_secrets_or_misconfigurations(
        tmp_path: Path, kind: str) -> None:
    """A leaked key has no 'fixed version'; --ignore-unfixed must not make it pass."""
    entry = ({"Target": "app/.env", "Class": "secret", "Secrets": [secret()]} if kind == "secret"
             else {"Target": "Dockerfile", "Class": "config", "Type": "dockerfile",
                   "Misconfigurations": [misconfig(severity="CRITICAL")]})
    report = write(tmp_path / "r.json", fs_report([entry]))
    summary = tmp_path / "s.json"
    code = main(["gate", "--quiet", "--report", report, "--ignore-unfixed",
                 "--json-summary", str(summary)])
    assert code == 1
    doc = json.loads(summary.read_text(encoding="utf-8"))
    assert doc["counts"]["critical"] == 1 and doc["ignored_unfixed"] == 0
