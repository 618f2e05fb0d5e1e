# scangate's AWS-native pipeline: the CodeBuild project of templates/codebuild/project.yaml, in
# Terraform (tests/monitor/test_templates.py keeps the role's actions equal).

data "aws_caller_identity" "current" {}
data "aws_region" "current" {}
data "aws_partition" "current" {}

locals {
  account    = data.aws_caller_identity.current.account_id
  region     = data.aws_region.current.name
  partition  = data.aws_partition.current.partition
  repository = "arn:${local.partition}:ecr:${local.region}:${local.account}:repository/${var.repository_name}"
  log_group  = "/aws/codebuild/scangate-pipeline"
}

resource "aws_kms_key" "logs" {
  description             = "scangate CodeBuild logs and artifacts"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  # A key policy ("*" is this key): inline JSON, as in ../../terraform/main.tf.
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "AccountAdministersKeyThroughIam"
        Effect    = "Allow"
        Principal = { AWS = "arn:${local.partition}:iam::${local.account}:root" }
        Action    = "kms:*"
        Resource  = "*"
      },
      {
        Sid       = "LogsEncryptTheLogGroup"
        Effect    = "Allow"
        Principal = { Service = "logs.${local.region}.amazonaws.com" }
        Action = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncryptFrom", "kms:ReEncryptTo",
        "kms:GenerateDataKey", "kms:GenerateDataKeyWithoutPlaintext", "kms:DescribeKey"]
        Resource = "*"
        Condition = { ArnLike = {
          "kms:EncryptionContext:aws:logs:arn" = "arn:${local.partition}:logs:${local.region}:${local.account}:log-group:${local.log_group}"
        } }
      },
    ]
  })
}

resource "aws_cloudwatch_log_group" "pipeline" {
  name              = local.log_group
  retention_in_days = 365
  kms_key_id        = aws_kms_key.logs.arn
}

data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["codebuild.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account]
    }
  }
}

data "aws_iam_policy_document" "pipeline" {
  # ECR's login token is account-wide: AWS accepts only "*" for it.
  statement {
    sid       = "EcrLogin"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"]
  }
  # scangate push (and its read-back) to this repository only.
  statement {
    sid = "PushToTheRepository"
    actions = ["ecr:BatchCheckLayerAvailability", "ecr:InitiateLayerUpload", "ecr:UploadLayerPart",
    "ecr:CompleteLayerUpload", "ecr:PutImage", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]
    resources = [local.repository]
  }
  # scangate ecr-findings on the pushed image.
  statement {
    sid       = "ReadTheScan"
    actions   = ["ecr:DescribeRepositories", "ecr:DescribeImages", "ecr:DescribeImageScanFindings", "ecr:StartImageScan"]
    resources = [local.repository]
  }
  # ecr-findings reads whether the registry scans BASIC or ENHANCED before it starts a basic
  # scan (an enhanced registry scans on push itself); a registry-level read with no resource ARN.
  statement {
    sid       = "ReadTheRegistryScanType"
    actions   = ["ecr:GetRegistryScanningConfiguration"]
    resources = ["*"]
  }
  # With enhanced scanning, ECR answers DescribeImageScanFindings (and the scan status) from
  # Amazon Inspector with the caller's permissions: ECR's "IAM permissions required for enhanced
  # scanning" lists inspector2:ListFindings and ListCoverage for retrieving findings.
  # Inspector's list actions take no resource ARN ("*").
  statement {
    sid       = "ReadInspectorFindings"
    actions   = ["inspector2:ListFindings", "inspector2:ListCoverage"]
    resources = ["*"]
  }
  statement {
    sid       = "ReadThePolicy"
    actions   = ["ssm:GetParameter"]
    resources = ["arn:${local.partition}:ssm:${local.region}:${local.account}:parameter${var.policy_parameter_name}"]
  }
  dynamic "statement" {
    for_each = var.alerts_topic_arn == "" ? [] : [var.alerts_topic_arn]
    content {
      sid       = "Notify"
      actions   = ["sns:Publish"]
      resources = [statement.value]
    }
  }
  dynamic "statement" {
    for_each = var.alerts_topic_key_arn == "" ? [] : [var.alerts_topic_key_arn]
    content {
      sid       = "NotifyEncryptedTopic"
      actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
      resources = [statement.value]
    }
  }
  statement {
    sid       = "Logs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.pipeline.arn}:*"]
  }
  statement {
    sid       = "LogKey"
    actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
    resources = [aws_kms_key.logs.arn]
  }
}

resource "aws_iam_role" "pipeline" {
  name               = "scangate-pipeline-codebuild"
  assume_role_policy = data.aws_iam_policy_document.assume.json
}

resource "aws_iam_role_policy" "pipeline" {
  name   = "scangate-pipeline"
  role   = aws_iam_role.pipeline.id
  policy = data.aws_iam_policy_document.pipeline.json
}

resource "aws_codebuild_project" "pipeline" {
  #checkov:skip=CKV_AWS_316: docker build needs the Docker daemon inside the build container; CodeBuild offers it only in privileged mode (the build runs the application's Dockerfile, which the pipeline scans before pushing).
  name           = "scangate-pipeline"
  description    = "Build, scan, gate, push by digest, gate the ECR/Inspector findings, notify"
  service_role   = aws_iam_role.pipeline.arn
  encryption_key = aws_kms_key.logs.arn
  build_timeout  = 60

  source {
    type     = "GITHUB"
    location = var.source_location
    # CodeBuild reads the buildspec from the primary source only: the application repository
    # carries a copy of templates/codebuild/buildspec.yml.
    buildspec = var.buildspec_path
  }

  secondary_sources {
    type              = "GITHUB"
    location          = var.scangate_source_location
    source_identifier = "scangate"
  }

  secondary_source_version {
    source_identifier = "scangate"
    source_version    = var.scangate_source_version
  }

  artifacts {
    type = "NO_ARTIFACTS"
  }

  # Amazon Linux 2023 (CodeBuild's curated standard:5.0); the amazonlinux2-* images run
  # Amazon Linux 2, whose support ended on 2026-06-30.
  environment {
    type         = "LINUX_CONTAINER"
    compute_type = "BUILD_GENERAL1_SMALL"
    image        = "aws/codebuild/amazonlinux-x86_64-standard:5.0"
    # docker build needs the Docker daemon inside the build container.
    privileged_mode = true

    environment_variable {
      name  = "SCANGATE_REGISTRY"
      value = "${local.account}.dkr.ecr.${local.region}.amazonaws.com"
    }
    environment_variable {
      name  = "SCANGATE_REPOSITORY"
      value = var.repository_name
    }
    environment_variable {
      name  = "SCANGATE_POLICY"
      value = "ssm:${var.policy_parameter_name}"
    }
    environment_variable {
      name  = "SCANGATE_TAG_ENVIRONMENT"
      value = var.tag_environment
    }
    environment_variable {
      name  = "SCANGATE_SNS_TOPIC_ARN"
      value = var.alerts_topic_arn
    }
    environment_variable {
      name  = "SCANGATE_TRIVY_VERSION"
      value = var.trivy_version
    }
    environment_variable {
      name  = "SCANGATE_TRIVY_SHA256"
      value = var.trivy_sha256
    }
    environment_variable {
      name  = "SCANGATE_SCAN_FLAGS"
      value = ""
    }
  }

  logs_config {
    cloudwatch_logs {
      status     = "ENABLED"
      group_name = aws_cloudwatch_log_group.pipeline.name
    }
  }
}
