# scangate pipeline foundation, the same resources as templates/aws/scangate-pipeline.yaml:
# a KMS-encrypted, immutable ECR repository that scans on push and only the push role may write
# to, the gate's thresholds in SSM, a KMS-encrypted SNS topic for alerts, and four OIDC roles
# (push, publish, gate, deploy), each trusted by one CI job and allowed exactly that job.
# The IAM documents equal templates/aws/policies/*.json (tests/templates check they agree).

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.name

  # The key policy of both keys (repository, alerts): its Resource "*" is the key itself; the
  # account administers the key through IAM, and each key's users get their use elsewhere.
  account_administered_key_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "AccountAdministersKeyThroughIam"
      Effect    = "Allow"
      Principal = { AWS = "arn:${local.partition}:iam::${local.account_id}:root" }
      Action    = "kms:*"
      Resource  = "*"
    }]
  })

  security_hub_product_arn = "arn:${local.partition}:securityhub:${local.region}:${local.account_id}:product/${local.account_id}/default"
  oidc_provider_arn        = var.create_oidc_provider ? aws_iam_openid_connect_provider.ci[0].arn : var.oidc_provider_arn

  # GitHub tells the jobs apart by sub (environment, job_workflow_ref), with one aud. GitLab
  # gives every job of a pipeline the same sub (project_path, ref_type, ref), so there each
  # role requires its own aud (the GitLab template's <role>-role-audience inputs).
  is_github = var.oidc_issuer_host == "token.actions.githubusercontent.com"
  role_audiences = local.is_github ? {
    push    = var.oidc_audience
    publish = var.oidc_audience
    gate    = var.oidc_audience
    deploy  = var.oidc_audience
    } : {
    push    = var.push_audience
    publish = var.publish_audience
    gate    = var.gate_audience
    deploy  = var.deploy_audience
  }

  role_subjects = {
    push    = var.push_subject
    publish = var.publish_subject
    gate    = var.gate_subject
    deploy  = var.deploy_subject
  }
  role_descriptions = {
    push    = "CI job that builds, scans and pushes the image (one ECR repository)."
    publish = "CI job that imports (and archives) the image's findings in Security Hub."
    gate    = "CI job that gates on the thresholds in SSM and sends the alerts (fail and error)."
    deploy  = "CI job that applies the pinned manifests to one EKS cluster (RBAC does the rest)."
  }
  role_policies = {
    push    = data.aws_iam_policy_document.push.json
    publish = data.aws_iam_policy_document.publish.json
    gate    = data.aws_iam_policy_document.gate.json
    deploy  = data.aws_iam_policy_document.deploy.json
  }
  # Severity -> limit; an empty value creates no parameter (no limit).
  thresholds = {
    for severity, value in {
      critical = var.critical_threshold
      high     = var.high_threshold
      medium   = var.medium_threshold
      low      = var.low_threshold
    } : severity => value if value != ""
  }
}

# STS accepts a token only when its aud is one of the provider's client IDs.
resource "aws_iam_openid_connect_provider" "ci" {
  count          = var.create_oidc_provider ? 1 : 0
  url            = "https://${var.oidc_issuer_host}"
  client_id_list = distinct(values(local.role_audiences))
}

# --- ECR repository and its key ---------------------------------------------------------------

resource "aws_kms_key" "repository" {
  description             = "Customer-managed key of the ECR repository ${var.repository_name}"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  # A key policy: its Resource "*" is this key. The account administers the key through IAM;
  # ECR uses it through the grant it creates with the repository (no key access for CI roles).
  policy = local.account_administered_key_policy
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

# Rule 1 keeps every digest `scangate mark-deployed` tagged scangate-deployed-<hex>: an image a
# rule selects by tag cannot be expired by a lower-priority rule (Amazon ECR User Guide,
# "Lifecycle policy evaluation rules"), so a running digest never expires
# (tests/aws/test_lifecycle.py evaluates the rules as ECR does).
resource "aws_ecr_lifecycle_policy" "this" {
  repository = aws_ecr_repository.this.name
  policy = jsonencode({
    rules = [
      {
        rulePriority = 1
        description  = "Deployed digests (tagged by scangate mark-deployed) are kept"
        selection    = { tagStatus = "tagged", tagPrefixList = ["scangate-deployed-"], countType = "imageCountMoreThan", countNumber = 10000 }
        action       = { type = "expire" }
      },
      {
        rulePriority = 2
        description  = "Untagged images are deleted 1 day after push"
        selection    = { tagStatus = "untagged", countType = "sinceImagePushed", countUnit = "days", countNumber = 1 }
        action       = { type = "expire" }
      },
      {
        rulePriority = 3
        description  = "Production: keep the newest 10 images"
        selection    = { tagStatus = "tagged", tagPrefixList = [var.production_tag_prefix], countType = "imageCountMoreThan", countNumber = 10 }
        action       = { type = "expire" }
      },
      {
        rulePriority = 4
        description  = "Staging: keep the newest 5 images"
        selection    = { tagStatus = "tagged", tagPrefixList = [var.staging_tag_prefix], countType = "imageCountMoreThan", countNumber = 5 }
        action       = { type = "expire" }
      },
      {
        rulePriority = 5
        description  = "Development: expire 7 days after push"
        selection    = { tagStatus = "tagged", tagPrefixList = [var.development_tag_prefix], countType = "sinceImagePushed", countUnit = "days", countNumber = 7 }
        action       = { type = "expire" }
      },
    ]
  })
}

# Both statements with Principal * are Denies (non-TLS requests; image writes by anyone but the
# writers this module knows), which the check reads as public access.
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
  # Only the writers the templates create (the push role; the CodeBuild project's role when
  # codebuild_role_arn is set) write images here, whatever an identity policy (an
  # administrator's, another pipeline's) allows: an explicit Deny wins. A negated operator with
  # several values matches when the principal equals none of them.
  statement {
    sid    = "OnlyThePipelineWritersUploadLayers"
    effect = "Deny"
    actions = [
      "ecr:InitiateLayerUpload",
      "ecr:UploadLayerPart",
      "ecr:CompleteLayerUpload",
    ]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "ArnNotEquals"
      variable = "aws:PrincipalArn"
      values   = compact([aws_iam_role.ci["push"].arn, var.codebuild_role_arn])
    }
  }
  # PutImage as well for the deploy role with monitoring_event_bus: `scangate mark-deployed`
  # stores a manifest already here under its scangate-deployed- tag so the lifecycle rules keep
  # it. No layer upload (above): no new content.
  statement {
    sid     = "OnlyThePipelineWritersPutImages"
    effect  = "Deny"
    actions = ["ecr:PutImage"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "ArnNotEquals"
      variable = "aws:PrincipalArn"
      values = compact([aws_iam_role.ci["push"].arn, var.codebuild_role_arn,
      var.monitoring_event_bus == "" ? "" : aws_iam_role.ci["deploy"].arn])
    }
  }
}

resource "aws_ecr_repository_policy" "this" {
  #checkov:skip=CKV_AWS_32:The only Principal * statements are Denies (non-TLS requests, writes by others), not public access.
  repository = aws_ecr_repository.this.name
  policy     = data.aws_iam_policy_document.repository.json
}

# No registry scanning configuration here: it is one per registry (account and region) and this
# module is one repository, so two pipelines would overwrite each other's rules. The monitoring
# module (templates/terraform/monitoring, enable_inspector) is its one owner.

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
      values   = [local.role_audiences[each.key]]
    }
    # A GitLab protected-tag pattern (ref:v*) needs StringLike; the subject pattern allows *
    # only there, so every other subject is an exact match.
    condition {
      test     = strcontains(each.value, "*") ? "StringLike" : "StringEquals"
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

  lifecycle {
    # The job that publishes findings, gates or deploys must not be able to push: on GitHub
    # by its own subject, on GitLab (one sub per pipeline) by its own audience.
    precondition {
      condition     = !local.is_github || each.key == "push" || each.value != var.push_subject
      error_message = "${each.key}_subject equals push_subject: give each job its own subject (docs/templates.md)."
    }
    precondition {
      condition     = local.is_github || length(distinct(values(local.role_audiences))) == 4
      error_message = "push_audience, publish_audience, gate_audience and deploy_audience must differ: every GitLab job of a pipeline has the same sub."
    }
  }
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
  # LayerUpload: upload the others; PutImage: write the manifest and tag; BatchGetImage: read
  # the pushed manifest back and check its digest; GetDownloadUrlForLayer: read the config blob
  # back (GET /v2/NAME/blobs/DIGEST) and compare it with the scanned image.
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
      "ecr:GetDownloadUrlForLayer",
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

data "aws_iam_policy_document" "gate" {
  # scangate gate --thresholds-from-ssm PREFIX: one GetParameters call for the limits. Read only:
  # a pipeline (or a pull request editing it) cannot raise its own limits.
  statement {
    sid       = "ReadThresholds"
    effect    = "Allow"
    actions   = ["ssm:GetParameters", "ssm:GetParameter"]
    resources = ["arn:${local.partition}:ssm:${local.region}:${local.account_id}:parameter${var.thresholds_parameter_prefix}/*"]
  }
  # scangate notify --sns-topic-arn: the alert on fail and on error.
  statement {
    sid       = "PublishAlerts"
    effect    = "Allow"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.alerts.arn]
  }
  # Publishing to a KMS-encrypted topic: SNS asks KMS for a data key on the caller's behalf,
  # and only through SNS.
  statement {
    sid       = "EncryptAlertsThroughSns"
    effect    = "Allow"
    actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
    resources = [aws_kms_key.alerts.arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["sns.${local.region}.amazonaws.com"]
    }
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

# With the monitoring stack: after a successful deploy the job tells the registry monitor which
# digests now run (`scangate mark-deployed`, the pipelines' monitoring-event-bus input), so it
# re-evaluates them and alerts on a new CRITICAL. A policy of its own, only when
# monitoring_event_bus is set: one bus, no other events action (the role cannot change rules or
# targets), and the deploy policy stays the standalone deploy-policy.json.
data "aws_iam_policy_document" "deploy_monitoring" {
  statement {
    sid       = "MarkDeployedOnOneBus"
    effect    = "Allow"
    actions   = ["events:PutEvents"]
    resources = ["arn:${local.partition}:events:${local.region}:${local.account_id}:event-bus/${var.monitoring_event_bus}"]
  }
  # mark-deployed then tags each deployed digest scangate-deployed-<hex>, which the repository's
  # first lifecycle rule keeps: BatchGetImage reads the manifest, PutImage stores it under the
  # tag (tags are immutable: no existing tag can be moved).
  statement {
    sid       = "TagDeployedDigests"
    effect    = "Allow"
    actions   = ["ecr:BatchGetImage", "ecr:PutImage"]
    resources = [aws_ecr_repository.this.arn]
  }
}

resource "aws_iam_policy" "deploy_monitoring" {
  count       = var.monitoring_event_bus == "" ? 0 : 1
  name        = "${var.role_name_prefix}-deploy-monitoring"
  description = "scangate deploy job: send the mark-deployed event to the monitoring stack's one event bus; tag deployed digests"
  policy      = data.aws_iam_policy_document.deploy_monitoring.json
}

resource "aws_iam_role_policy_attachment" "deploy_monitoring" {
  count      = var.monitoring_event_bus == "" ? 0 : 1
  role       = aws_iam_role.ci["deploy"].name
  policy_arn = aws_iam_policy.deploy_monitoring[0].arn
}

resource "aws_eks_access_entry" "deploy" {
  count             = var.create_eks_access_entry ? 1 : 0
  cluster_name      = var.eks_cluster_name
  principal_arn     = aws_iam_role.ci["deploy"].arn
  type              = "STANDARD"
  kubernetes_groups = [var.deploy_kubernetes_group]
}

# --- thresholds and alerts -------------------------------------------------------------------

resource "aws_ssm_parameter" "threshold" {
  #checkov:skip=CKV2_AWS_34:A limit is not a secret; a String parameter needs no key the gate role must be given.
  for_each    = local.thresholds
  name        = "${var.thresholds_parameter_prefix}/${each.key}"
  type        = "String"
  value       = each.value
  description = "scangate gate limit for ${upper(each.key)} findings (absent = no limit)"
}

resource "aws_kms_key" "alerts" {
  description             = "Customer-managed key of the scangate alerts topic"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  # The account administers the key through IAM; the gate role's policy grants its use through
  # SNS only (kms:ViaService).
  policy = local.account_administered_key_policy
}

resource "aws_sns_topic" "alerts" {
  name              = "${var.role_name_prefix}-alerts"
  display_name      = "scangate alerts"
  kms_master_key_id = aws_kms_key.alerts.arn
}
