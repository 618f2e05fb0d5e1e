# scangate pipeline foundation, the same resources as templates/aws/scangate-pipeline.yaml:
# a KMS-encrypted, immutable ECR repository that scans on push, and three OIDC roles (push,
# publish, deploy), each trusted by one CI identity and allowed exactly one job.
# The IAM documents equal templates/aws/policies/*.json (tests/templates check they agree).

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.name

  security_hub_product_arn = "arn:${local.partition}:securityhub:${local.region}:${local.account_id}:product/${local.account_id}/default"
  oidc_provider_arn        = var.create_oidc_provider ? aws_iam_openid_connect_provider.ci[0].arn : var.oidc_provider_arn

  role_subjects = {
    push    = var.push_subject
    publish = var.publish_subject
    deploy  = var.deploy_subject
  }
  role_descriptions = {
    push    = "CI job that builds, scans and pushes the image (one ECR repository)."
    publish = "CI job that imports (and archives) the image's findings in Security Hub."
    deploy  = "CI job that applies the pinned manifests to one EKS cluster (RBAC does the rest)."
  }
  role_policies = {
    push    = data.aws_iam_policy_document.push.json
    publish = data.aws_iam_policy_document.publish.json
    deploy  = data.aws_iam_policy_document.deploy.json
  }
}

resource "aws_iam_openid_connect_provider" "ci" {
  count          = var.create_oidc_provider ? 1 : 0
  url            = "https://${var.oidc_issuer_host}"
  client_id_list = [var.oidc_audience]
}

# --- ECR repository and its key ---------------------------------------------------------------

resource "aws_kms_key" "repository" {
  description             = "Customer-managed key of the ECR repository ${var.repository_name}"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  # A key policy: its Resource "*" is this key. The account administers the key through IAM;
  # ECR uses it through the grant it creates with the repository (no key access for CI roles).
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "AccountAdministersKeyThroughIam"
      Effect    = "Allow"
      Principal = { AWS = "arn:${local.partition}:iam::${local.account_id}:root" }
      Action    = "kms:*"
      Resource  = "*"
    }]
  })
}

resource "aws_ecr_repository" "this" {
  name                 = var.repository_name
  image_tag_mutability = "IMMUTABLE"

  image_scanning_configuration {
    scan_on_push = true
  }

  encryption_configuration {
    encryption_type = "KMS"
    kms_key         = aws_kms_key.repository.arn
  }
}

resource "aws_ecr_lifecycle_policy" "this" {
  repository = aws_ecr_repository.this.name
  policy = jsonencode({
    rules = [
      {
        rulePriority = 1
        description  = "Untagged images are deleted 1 day after push"
        selection    = { tagStatus = "untagged", countType = "sinceImagePushed", countUnit = "days", countNumber = 1 }
        action       = { type = "expire" }
      },
      {
        rulePriority = 2
        description  = "Production: keep the newest 10 images"
        selection    = { tagStatus = "tagged", tagPrefixList = [var.production_tag_prefix], countType = "imageCountMoreThan", countNumber = 10 }
        action       = { type = "expire" }
      },
      {
        rulePriority = 3
        description  = "Staging: keep the newest 5 images"
        selection    = { tagStatus = "tagged", tagPrefixList = [var.staging_tag_prefix], countType = "imageCountMoreThan", countNumber = 5 }
        action       = { type = "expire" }
      },
      {
        rulePriority = 4
        description  = "Development: expire 7 days after push"
        selection    = { tagStatus = "tagged", tagPrefixList = [var.development_tag_prefix], countType = "sinceImagePushed", countUnit = "days", countNumber = 7 }
        action       = { type = "expire" }
      },
    ]
  })
}

# The one statement with Principal * is a Deny of every request not sent over TLS, which the
# check reads as public access.
# trivy:ignore:AVD-AWS-0032
data "aws_iam_policy_document" "repository" {
  statement {
    sid     = "DenyInsecureTransport"
    effect  = "Deny"
    actions = ["ecr:*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_ecr_repository_policy" "this" {
  #checkov:skip=CKV_AWS_32:The only Principal * statement is a Deny of non-TLS requests, not public access.
  repository = aws_ecr_repository.this.name
  policy     = data.aws_iam_policy_document.repository.json
}

resource "aws_ecr_registry_scanning_configuration" "enhanced" {
  count     = var.enable_enhanced_scanning ? 1 : 0
  scan_type = "ENHANCED"

  rule {
    scan_frequency = "CONTINUOUS_SCAN"
    repository_filter {
      filter      = var.repository_name
      filter_type = "WILDCARD"
    }
  }
}

# --- CI roles ------------------------------------------------------------------------------

data "aws_iam_policy_document" "trust" {
  for_each = local.role_subjects

  statement {
    sid     = "OneCiJobOnly"
    effect  = "Allow"
    actions = ["sts:AssumeRoleWithWebIdentity"]
    principals {
      type        = "Federated"
      identifiers = [local.oidc_provider_arn]
    }
    condition {
      test     = "StringEquals"
      variable = "${var.oidc_issuer_host}:aud"
      values   = [var.oidc_audience]
    }
    condition {
      test     = "StringEquals"
      variable = "${var.oidc_issuer_host}:sub"
      values   = [each.value]
    }
  }
}

resource "aws_iam_role" "ci" {
  for_each             = local.role_subjects
  name                 = "${var.role_name_prefix}-${each.key}"
  description          = local.role_descriptions[each.key]
  max_session_duration = 3600
  assume_role_policy   = data.aws_iam_policy_document.trust[each.key].json
}

data "aws_iam_policy_document" "push" {
  # docker login: the token call has no resource-level permissions (Resource must be *).
  statement {
    sid       = "RegistryLogin"
    effect    = "Allow"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"]
  }
  # BatchCheckLayerAvailability: skip layers the repository has; Initiate/Upload/Complete
  # LayerUpload: upload the others; PutImage: write the manifest and tag; BatchGetImage and
  # DescribeImages: read the pushed manifest back and check its digest.
  statement {
    sid    = "PushToOneRepository"
    effect = "Allow"
    actions = [
      "ecr:BatchCheckLayerAvailability",
      "ecr:InitiateLayerUpload",
      "ecr:UploadLayerPart",
      "ecr:CompleteLayerUpload",
      "ecr:PutImage",
      "ecr:BatchGetImage",
      "ecr:DescribeImages",
    ]
    resources = [aws_ecr_repository.this.arn]
  }
}

data "aws_iam_policy_document" "publish" {
  # scangate securityhub: import into the account's own custom product; with --archive-missing
  # it re-imports resolved findings with RecordState ARCHIVED.
  statement {
    sid       = "ImportFindingsIntoOwnProduct"
    effect    = "Allow"
    actions   = ["securityhub:BatchImportFindings"]
    resources = [local.security_hub_product_arn]
  }
  # --archive-missing: list the image's active findings to find the resolved ones.
  statement {
    sid       = "ReadFindingsForArchive"
    effect    = "Allow"
    actions   = ["securityhub:GetFindings"]
    resources = ["arn:${local.partition}:securityhub:${local.region}:${local.account_id}:hub/default"]
  }
}

data "aws_iam_policy_document" "deploy" {
  # aws eks update-kubeconfig reads the endpoint and CA; the Kubernetes token itself is a
  # presigned sts:GetCallerIdentity, which needs no permission.
  statement {
    sid       = "DescribeOneCluster"
    effect    = "Allow"
    actions   = ["eks:DescribeCluster"]
    resources = ["arn:${local.partition}:eks:${local.region}:${local.account_id}:cluster/${var.eks_cluster_name}"]
  }
}

resource "aws_iam_policy" "ci" {
  for_each    = local.role_policies
  name        = "${var.role_name_prefix}-${each.key}"
  description = "scangate ${each.key} job: templates/aws/policies/${each.key}-policy.json"
  policy      = each.value
}

resource "aws_iam_role_policy_attachment" "ci" {
  for_each   = local.role_policies
  role       = aws_iam_role.ci[each.key].name
  policy_arn = aws_iam_policy.ci[each.key].arn
}

resource "aws_eks_access_entry" "deploy" {
  count             = var.create_eks_access_entry ? 1 : 0
  cluster_name      = var.eks_cluster_name
  principal_arn     = aws_iam_role.ci["deploy"].arn
  type              = "STANDARD"
  kubernetes_groups = [var.deploy_kubernetes_group]
}
