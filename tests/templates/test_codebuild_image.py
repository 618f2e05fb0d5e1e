"""The CodeBuild project runs on a supported Amazon Linux.

AWS's CodeBuild user guide ("Compute images supported with the CodeBuild-hosted Buildkite
runner" and "Docker images provided by CodeBuild") lists `aws/codebuild/amazonlinux-x86_64-
standard:5.0` as the Amazon Linux 2023 image; the `amazonlinux2-*` images are Amazon Linux 2,
whose support ended on 2026-06-30. CloudFormation and Terraform must build on the same image.
(The test reads the image line of each file; a second image line fails it.)
"""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
AL2023_IMAGE = "aws/codebuild/amazonlinux-x86_64-standard:5.0"


def _cfn_image() -> str:
    text = (REPO / "templates" / "codebuild" / "project.yaml").read_text(encoding="utf-8")
    images = re.findall(r"^\s+Image:\s*(\S+)\s*$", text, re.MULTILINE)
    assert len(images) == 1, images
    return images[0]


def _terraform_image() -> str:
    text = (REPO / "templates" / "codebuild" / "terraform" / "main.tf").read_text(
        encoding="utf-8")
    images = re.findall(r'^\s+image\s*=\s*"([^"]+)"', text, re.MULTILINE)
    assert len(images) == 1, images
    return images[0]


def test_codebuild_runs_on_amazon_linux_2023_in_both_templates() -> None:
    assert _cfn_image() == AL2023_IMAGE
    assert _terraform_image() == AL2023_IMAGE
