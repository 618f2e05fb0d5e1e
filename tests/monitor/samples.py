"""EventBridge event samples, as AWS documents them (values kept as published).

- ``ECR_IMAGE_SCAN``: "Amazon ECR events and EventBridge", section "Event for a completed image
  scan (basic scanning)":
  https://docs.aws.amazon.com/AmazonECR/latest/userguide/ecr-eventbridge.html
- ``INSPECTOR2_SCAN`` and ``INSPECTOR2_FINDING``: "EventBridge events sent for enhanced scanning
  in Amazon ECR", sections "Event for an initial image scan" and "Event for an image scan
  finding update":
  https://docs.aws.amazon.com/AmazonECR/latest/userguide/image-scanning-enhanced-events.html
  (the same shapes: https://docs.aws.amazon.com/inspector/latest/user/eventbridge-integration.html)
- ``SCHEDULED``: "Invoke a Lambda function on a schedule", the example event:
  https://docs.aws.amazon.com/lambda/latest/dg/with-scheduled-events.html
- ``ECR_IMAGE_ACTION`` (a near miss: a push, not a scan): the first page above, "Event for a
  completed image push".
- ``INSPECTOR2_SCAN_EC2``, ``INSPECTOR2_SCAN_LAMBDA`` and ``INSPECTOR2_COVERAGE`` (near misses:
  Inspector's events about resources that are not container images): "Amazon EventBridge event
  schema for Amazon Inspector events", sections "Amazon Inspector initial scan complete event
  schema example" (the EC2 and Lambda tabs: the same detail-type and scan-status as the ECR
  one, the resource in ``instance-id`` / ``function-arn`` instead of ``repository-name`` and
  ``image-digest``) and "Amazon Inspector coverage event schema example":
  https://docs.aws.amazon.com/inspector/latest/user/eventbridge-integration.html
  (../shared/notes/platform-rules.md, AWS: a pattern on detail-type and scan-status alone
  matches all three kinds of initial scan).
- ``INSPECTOR2_SCAN_AMI`` (a near miss: a machine image, not a container image): the same page,
  "Amazon Inspector initial scan complete event schema example", tab "Machine image initial
  scan" (the resource in ``machine-image-id``); ``INSPECTOR2_ON_DEMAND_AMI_COMPLETE`` and
  ``INSPECTOR2_ON_DEMAND_AMI_FINDING``: section "Amazon Inspector on-demand machine image scan
  event schema examples" (tabs "Scan complete - successful" and "Findings"; the findings sample
  is published without EventBridge's envelope, kept so).

The documented digests are placeholders (``...EXAMPLE``, or 60 hex digits), so ``retarget``
points a sample at a real image in moto by rewriting only the identifying fields.
"""

from __future__ import annotations

import copy
from typing import Any

ECR_IMAGE_SCAN: dict[str, Any] = {
    "version": "0",
    "id": "85fc3613-e913-7fc4-a80c-a3753e4aa9ae",
    "detail-type": "ECR Image Scan",
    "source": "aws.ecr",
    "account": "123456789012",
    "time": "2019-10-29T02:36:48Z",
    "region": "us-east-1",
    "resources": ["arn:aws:ecr:us-east-1:123456789012:repository/my-repository-name"],
    "detail": {
        "scan-status": "COMPLETE",
        "repository-name": "my-repository-name",
        "finding-severity-counts": {"CRITICAL": 10, "MEDIUM": 9},
        "image-digest": "sha256:7f5b2640fe6fb4f46592dfd3410c4a79dac4f89e4782432e0378abcd1234",
        "image-tags": [],
    },
}

INSPECTOR2_SCAN: dict[str, Any] = {
    "version": "0",
    "id": "739c0d3c-4f02-85c7-5a88-94a9EXAMPLE",
    "detail-type": "Inspector2 Scan",
    "source": "aws.inspector2",
    "account": "123456789012",
    "time": "2021-12-03T18:03:16Z",
    "region": "us-east-2",
    "resources": ["arn:aws:ecr:us-east-2:123456789012:repository/amazon/amazon-ecs-sample"],
    "detail": {
        "scan-status": "INITIAL_SCAN_COMPLETE",
        "repository-name": "arn:aws:ecr:us-east-2:809632081692:repository/amazon/amazon-ecs-sample",
        "finding-severity-counts": {"CRITICAL": 7, "HIGH": 61, "MEDIUM": 62, "TOTAL": 158},
        "image-digest": "sha256:36c7b282abd0186e01419f2e58743e1bf635808231049bbc9d77e5EXAMPLE",
        "image-tags": ["latest"],
    },
}

INSPECTOR2_FINDING: dict[str, Any] = {
    "version": "0",
    "id": "42dbea55-45ad-b2b4-87a8-afaEXAMPLE",
    "detail-type": "Inspector2 Finding",
    "source": "aws.inspector2",
    "account": "123456789012",
    "time": "2021-12-03T18:02:30Z",
    "region": "us-east-2",
    "resources": ["arn:aws:ecr:us-east-2:123456789012:repository/amazon/amazon-ecs-sample/"
                  "sha256:36c7b282abd0186e01419f2e58743e1bf635808231049bbc9d77eEXAMPLE"],
    "detail": {
        "awsAccountId": "123456789012",
        "description": "In libssh2 v1.9.0 and earlier versions, the SSH_MSG_DISCONNECT logic in "
        "packet.c has an integer overflow in a bounds check, enabling an attacker to specify an "
        "arbitrary (out-of-bounds) offset for a subsequent memory read. A crafted SSH server "
        "may be able to disclose sensitive information or cause a denial of service condition "
        "on the client system when a user connects to the server.",
        "findingArn": "arn:aws:inspector2:us-east-2:123456789012:finding/"
        "be674aaddd0f75ac632055EXAMPLE",
        "firstObservedAt": "Dec 3, 2021, 6:02:30 PM",
        "inspectorScore": 6.5,
        "inspectorScoreDetails": {"adjustedCvss": {
            "adjustments": [], "cvssSource": "REDHAT_CVE", "score": 6.5,
            "scoreSource": "REDHAT_CVE",
            "scoringVector": "CVSS:3.0/AV:N/AC:L/PR:N/UI:R/S:U/C:H/I:N/A:N", "version": "3.0"}},
        "lastObservedAt": "Dec 3, 2021, 6:02:30 PM",
        "packageVulnerabilityDetails": {
            "cvss": [
                {"baseScore": 6.5, "scoringVector": "CVSS:3.0/AV:N/AC:L/PR:N/UI:R/S:U/C:H/I:N/A:N",
                 "source": "REDHAT_CVE", "version": "3.0"},
                {"baseScore": 5.8, "scoringVector": "AV:N/AC:M/Au:N/C:P/I:N/A:P",
                 "source": "NVD", "version": "2.0"},
                {"baseScore": 8.1, "scoringVector": "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:U/C:H/I:N/A:H",
                 "source": "NVD", "version": "3.1"},
            ],
            "referenceUrls": ["https://access.redhat.com/errata/RHSA-2020:3915"],
            "source": "REDHAT_CVE",
            "sourceUrl": "https://access.redhat.com/security/cve/CVE-2019-17498",
            "vendorCreatedAt": "Oct 16, 2019, 12:00:00 AM",
            "vendorSeverity": "Moderate",
            "vulnerabilityId": "CVE-2019-17498",
            "vulnerablePackages": [{
                "arch": "X86_64", "epoch": 0, "name": "libssh2", "packageManager": "OS",
                "release": "12.amzn2.2",
                "sourceLayerHash": "sha256:72d97abdfae3b3c933ff41e39779cc72853d7bd9dc1e4800c5294d"
                "EXAMPLE",
                "version": "1.4.3"}],
        },
        "remediation": {"recommendation": {
            "text": "Update all packages in the vulnerable packages section to their latest "
            "versions."}},
        "resources": [{
            "details": {"awsEcrContainerImage": {
                "architecture": "amd64",
                "imageHash": "sha256:36c7b282abd0186e01419f2e58743e1bf635808231049bbc9d77e5"
                "EXAMPLE",
                "imageTags": ["latest"],
                "platform": "AMAZON_LINUX_2",
                "pushedAt": "Dec 3, 2021, 6:02:13 PM",
                "registry": "123456789012",
                "repositoryName": "amazon/amazon-ecs-sample"}},
            "id": "arn:aws:ecr:us-east-2:123456789012:repository/amazon/amazon-ecs-sample/"
            "sha256:36c7b282abd0186e01419f2e58743e1bf635808231049bbc9d77EXAMPLE",
            "partition": "N/A",
            "region": "N/A",
            "type": "AWS_ECR_CONTAINER_IMAGE"}],
        "severity": "MEDIUM",
        "status": "ACTIVE",
        "title": "CVE-2019-17498 - libssh2",
        "type": "PACKAGE_VULNERABILITY",
        "updatedAt": "Dec 3, 2021, 6:02:30 PM",
    },
}

SCHEDULED: dict[str, Any] = {
    "version": "0",
    "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
    "detail-type": "Scheduled Event",
    "source": "aws.events",
    "account": "123456789012",
    "time": "2015-10-08T16:53:06Z",
    "region": "us-east-1",
    "resources": ["arn:aws:events:us-east-1:123456789012:rule/my-scheduled-rule"],
    "detail": {},
}

ECR_IMAGE_ACTION: dict[str, Any] = {
    "version": "0",
    "id": "13cde686-328b-6117-af20-0e5566167482",
    "detail-type": "ECR Image Action",
    "source": "aws.ecr",
    "account": "123456789012",
    "time": "2019-11-16T01:54:34Z",
    "region": "us-west-2",
    "resources": [],
    "detail": {
        "result": "SUCCESS",
        "repository-name": "my-repository-name",
        "image-digest": "sha256:7f5b2640fe6fb4f46592dfd3410c4a79dac4f89e4782432e0378abcd1234",
        "action-type": "PUSH",
        "image-tag": "latest",
    },
}

INSPECTOR2_SCAN_EC2: dict[str, Any] = {
    "version": "0",
    "id": "28a46762-6ac8-6cc6-ddb4-8d8e0d1eEXAMPLE",
    "detail-type": "Inspector2 Scan",
    "source": "aws.inspector2",
    "account": "123456789012",
    "time": "2021-12-03T18:03:16Z",
    "region": "us-east-2",
    "resources": ["i-087d63509b8EXAMPLE"],
    "detail": {
        "scan-status": "INITIAL_SCAN_COMPLETE",
        "instance-id": "i-087d63509b8EXAMPLE",
        "finding-severity-counts": {"CRITICAL": 0, "HIGH": 0, "MEDIUM": 0, "TOTAL": 0},
        "version": "1.0",
    },
}

INSPECTOR2_SCAN_LAMBDA: dict[str, Any] = {
    "version": "0",
    "id": "b9c1d4e2-5f60-4c1a-9d2e-0f1e2d3cEXAMPLE",
    "detail-type": "Inspector2 Scan",
    "source": "aws.inspector2",
    "account": "123456789012",
    "time": "2022-11-14T16:34:24Z",
    "region": "us-east-2",
    "resources": ["arn:aws:lambda:us-east-2:123456789012:function:my-function"],
    "detail": {
        "scan-status": "INITIAL_SCAN_COMPLETE",
        "function-arn": "arn:aws:lambda:us-east-2:123456789012:function:my-function",
        "finding-severity-counts": {"CRITICAL": 0, "HIGH": 0, "MEDIUM": 0, "TOTAL": 0},
        "version": "1.0",
    },
}

INSPECTOR2_COVERAGE: dict[str, Any] = {
    "version": "0",
    "id": "000d0de3-2a92-4d7a-a5a8-5e0d0EXAMPLE",
    "detail-type": "Inspector2 Coverage",
    "source": "aws.inspector2",
    "account": "123456789012",
    "time": "2023-01-25T01:16:15Z",
    "region": "us-east-1",
    "resources": ["i-087d63509b8EXAMPLE"],
    "detail": {
        "scanStatus": {"reason": "UNMANAGED_EC2_INSTANCE", "statusCodeValue": "INACTIVE"},
        "scanType": "PACKAGE",
        "eventTimestamp": "2023-01-25T01:16:15.146Z",
        "versionId": "1.0",
    },
}

INSPECTOR2_SCAN_AMI: dict[str, Any] = {
    "version": "0",
    "id": "6b1f9d0e-2c47-4a52-9f10-7a1b8c3d5e2f",
    "detail-type": "Inspector2 Scan",
    "source": "aws.inspector2",
    "account": "111122223333",
    "time": "2026-08-13T13:42:52Z",
    "region": "us-east-1",
    "resources": ["ami-0abcdef1234567890"],
    "detail": {
        "scan-status": "INITIAL_SCAN_COMPLETE",
        "finding-severity-counts": {"CRITICAL": 0, "HIGH": 2, "MEDIUM": 5, "TOTAL": 7},
        "machine-image-id": "ami-0abcdef1234567890",
        "version": "1.0",
    },
}

INSPECTOR2_ON_DEMAND_AMI_COMPLETE: dict[str, Any] = {
    "version": "0",
    "id": "7bf7f4b1-9f6c-4d3e-8a2b-5c1d0e9f3a44",
    "detail-type": "Inspector2 OnDemand Scan Complete",
    "source": "aws.inspector2",
    "account": "111122223333",
    "time": "2026-06-12T01:30:00Z",
    "region": "us-east-1",
    "resources": ["ami-0abcdef1234567890"],
    "detail": {
        "scanId": "9f1c4b8d2e6a4f0b7c3d5e1a8b2f6c4d",
        "awsAccountId": "111122223333",
        "resourceId": "ami-0abcdef1234567890",
        "resourceType": "MACHINE_IMAGE",
        "scanStatus": "SUCCESSFUL",
        "startedAt": "2026-06-12T00:00:00.000Z",
        "completedAt": "2026-06-12T01:30:00.000Z",
        "findingSeverityCounts": {"CRITICAL": 0, "HIGH": 2, "MEDIUM": 5, "LOW": 1,
                                  "INFORMATIONAL": 0, "UNTRIAGED": 0, "TOTAL": 8},
        "version": "1.0",
    },
}

INSPECTOR2_ON_DEMAND_AMI_FINDING: dict[str, Any] = {
    "source": "inspector2.ami.ondemand",
    "detail-type": "OnDemand AMI Scan Findings",
    "detail": {
        "findingArn": "arn:aws:inspector2:us-east-1:111122223333:finding/ondemand/"
                      "9f1c4b8d2e6a4f0b7c3d5e1a8b2f6c4d/cea7c73a3d57d9c142992e845644d317",
        "scanId": "9f1c4b8d2e6a4f0b7c3d5e1a8b2f6c4d",
        "awsAccountId": "111122223333",
        "type": "PACKAGE_VULNERABILITY",
        "title": "CVE-2022-3171 - com.google.protobuf:protobuf-java",
        "description": "A parsing issue with binary data in protobuf-java...",
        "severity": "HIGH",
        "status": "ACTIVE",
        "firstObservedAt": "2026-06-12T01:30:00.000Z",
        "lastObservedAt": "2026-06-12T01:30:00.000Z",
        "updatedAt": "2026-06-12T01:30:00.000Z",
        "resources": [{"type": "MACHINE_IMAGE", "id": "ami-0abcdef1234567890",
                       "partition": "aws", "region": "us-east-1"}],
        "inspectorScore": 7.5,
        "packageVulnerabilityDetails": {
            "vulnerabilityId": "CVE-2022-3171",
            "vulnerablePackages": [{
                "name": "com.google.protobuf:protobuf-java", "version": "2.5.0", "epoch": 0,
                "packageManager": "JAVA", "filePath": "/usr/lib/jars/protobuf-java-2.5.0.jar",
                "fixedInVersion": "3.16.3"}],
            "source": "NVD",
            "sourceUrl": "https://nvd.nist.gov/vuln/detail/CVE-2022-3171",
            "vendorSeverity": "high",
        },
        "remediation": {"recommendation": {
            "text": "Update com.google.protobuf:protobuf-java to 3.16.3 or later"}},
        "fixAvailable": "YES",
        "exploitAvailable": "NO",
    },
}

NOT_CONTAINER_IMAGES = {"Inspector2 Scan (EC2)": INSPECTOR2_SCAN_EC2,
                        "Inspector2 Scan (Lambda)": INSPECTOR2_SCAN_LAMBDA,
                        "Inspector2 Scan (AMI)": INSPECTOR2_SCAN_AMI,
                        "Inspector2 OnDemand Scan Complete (AMI)":
                            INSPECTOR2_ON_DEMAND_AMI_COMPLETE,
                        "OnDemand AMI Scan Findings": INSPECTOR2_ON_DEMAND_AMI_FINDING,
                        "Inspector2 Coverage": INSPECTOR2_COVERAGE}

ALL = {"ECR Image Scan": ECR_IMAGE_SCAN, "Inspector2 Scan": INSPECTOR2_SCAN,
       "Inspector2 Finding": INSPECTOR2_FINDING}


def retarget(sample: dict[str, Any], *, repository: str, digest: str, event_id: str = "",
             account: str = "123456789012", region: str = "us-east-1") -> dict[str, Any]:
    """The sample about another image: only account, region, repository, digest and id change."""
    event = copy.deepcopy(sample)
    event["account"], event["region"] = account, region
    if event_id:
        event["id"] = event_id
    detail = event["detail"]
    if "image-digest" in detail:
        detail["image-digest"] = digest
        detail["repository-name"] = repository
    for resource in detail.get("resources") or []:
        image = resource["details"]["awsEcrContainerImage"]
        image["imageHash"], image["repositoryName"], image["registry"] = digest, repository, account
        resource["id"] = f"arn:aws:ecr:{region}:{account}:repository/{repository}/{digest}"
    return event
