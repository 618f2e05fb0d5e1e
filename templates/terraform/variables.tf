# Same parameters as templates/aws/scangate-pipeline.yaml (snake_case). See docs/templates.md.

locals {
  # One repository and one branch or environment, no wildcard (GitHub name form, GitHub
  # immutable-id form, optionally with the reusable workflow at a pinned ref (job_workflow_ref);
  # GitLab project_path form for a branch or a protected tag, where a trailing * is a tag
  # pattern). Same pattern as the CloudFormation parameters (tests/templates check).
  subject_pattern = "^(repo:[A-Za-z0-9_.-]+(@[0-9]+)?/[A-Za-z0-9_.-]+(@[0-9]+)?:(ref:refs/heads/[A-Za-z0-9_./-]+|environment:[A-Za-z0-9_.-]+)(:job_workflow_ref:[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+/\\.github/workflows/[A-Za-z0-9_.-]+\\.ya?ml@(refs/heads/[A-Za-z0-9_./-]+|refs/tags/[A-Za-z0-9_./-]+|[0-9a-f]{40}))?|project_path:[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)+:ref_type:(branch:ref:[A-Za-z0-9_./-]+|tag:ref:[A-Za-z0-9_./-]+\\*?)(:environment:[A-Za-z0-9_.-]+)?)$"
}

variable "oidc_issuer_host" {
  description = "Issuer host of the CI's OIDC tokens: token.actions.githubusercontent.com (GitHub), gitlab.com or a self-managed GitLab host."
  type        = string
  default     = "token.actions.githubusercontent.com"
  validation {
    condition     = can(regex("^[A-Za-z0-9.-]+(/[A-Za-z0-9._-]+)*$", var.oidc_issuer_host))
    error_message = "oidc_issuer_host is a host (and optional path) without https://."
  }
}

variable "oidc_provider_arn" {
  description = "ARN of the account's existing IAM OIDC provider for the issuer (one per issuer URL per account). Null with create_oidc_provider = true."
  type        = string
  default     = null
}

variable "create_oidc_provider" {
  description = "Create the IAM OIDC provider for the issuer (only if the account has none)."
  type        = bool
  default     = false
}

variable "oidc_audience" {
  description = "GitHub: the aud claim every role requires (configure-aws-credentials sends sts.amazonaws.com; each GitHub job has its own sub). GitLab (any other issuer): unused, each role requires its own audience (push_audience, publish_audience, gate_audience, deploy_audience)."
  type        = string
  default     = "sts.amazonaws.com"
}

variable "push_audience" {
  description = "GitLab only: the aud the push role requires, the push-role-audience input of the GitLab template (its push job's id_tokens). GitLab gives every job of a pipeline the same sub, so the audience alone tells the jobs apart: it must differ from the other roles'."
  type        = string
  default     = "scangate-push"
  validation {
    condition     = can(regex("^[A-Za-z0-9:/._-]+$", var.push_audience))
    error_message = "push_audience is a non-empty aud claim (letters, digits, :/._-)."
  }
}

variable "publish_audience" {
  description = "GitLab only: the aud the publish role requires, the securityhub-role-audience input of the GitLab template (its securityhub job's id_tokens). GitLab gives every job of a pipeline the same sub, so the audience alone tells the jobs apart: it must differ from the other roles'."
  type        = string
  default     = "scangate-publish"
  validation {
    condition     = can(regex("^[A-Za-z0-9:/._-]+$", var.publish_audience))
    error_message = "publish_audience is a non-empty aud claim (letters, digits, :/._-)."
  }
}

variable "gate_audience" {
  description = "GitLab only: the aud the gate role requires, the gate-role-audience input of the GitLab template (its report and notify job's id_tokens). GitLab gives every job of a pipeline the same sub, so the audience alone tells the jobs apart: it must differ from the other roles'."
  type        = string
  default     = "scangate-gate"
  validation {
    condition     = can(regex("^[A-Za-z0-9:/._-]+$", var.gate_audience))
    error_message = "gate_audience is a non-empty aud claim (letters, digits, :/._-)."
  }
}

variable "deploy_audience" {
  description = "GitLab only: the aud the deploy role requires, the deploy-role-audience input of the GitLab template (its deploy job's id_tokens). GitLab gives every job of a pipeline the same sub, so the audience alone tells the jobs apart: it must differ from the other roles'."
  type        = string
  default     = "scangate-deploy"
  validation {
    condition     = can(regex("^[A-Za-z0-9:/._-]+$", var.deploy_audience))
    error_message = "deploy_audience is a non-empty aud claim (letters, digits, :/._-)."
  }
}

variable "push_subject" {
  description = "Exact sub claim of the job that builds and pushes the image."
  type        = string
  validation {
    condition     = can(regex(local.subject_pattern, var.push_subject))
    error_message = "push_subject names one repository and one branch or environment, without wildcards."
  }
}

variable "publish_subject" {
  description = "Exact sub claim of the job that publishes findings to Security Hub."
  type        = string
  validation {
    condition     = can(regex(local.subject_pattern, var.publish_subject))
    error_message = "publish_subject names one repository and one branch or environment, without wildcards."
  }
}

variable "gate_subject" {
  description = "sub claim of the job that runs the gate (reads the SSM thresholds) and sends the alerts (SNS)."
  type        = string
  validation {
    condition     = can(regex(local.subject_pattern, var.gate_subject))
    error_message = "gate_subject names one repository and one branch, environment or protected tag, without wildcards."
  }
}

variable "thresholds_parameter_prefix" {
  description = "SSM path of the limits: PREFIX/critical, /high, /medium, /low (scangate gate --thresholds-from-ssm PREFIX)."
  type        = string
  default     = "/container-security/vulnerability-thresholds"
  validation {
    condition     = can(regex("^(/[A-Za-z0-9_.-]+)+$", var.thresholds_parameter_prefix))
    error_message = "thresholds_parameter_prefix is an SSM path such as /container-security/vulnerability-thresholds."
  }
}

variable "critical_threshold" {
  description = "Most CRITICAL findings allowed; empty = no parameter = no limit."
  type        = string
  default     = "0"
  validation {
    condition     = can(regex("^([0-9]{1,9})?$", var.critical_threshold))
    error_message = "critical_threshold is a whole number or empty."
  }
}

variable "high_threshold" {
  description = "Most HIGH findings allowed; empty = no parameter = no limit."
  type        = string
  default     = "5"
  validation {
    condition     = can(regex("^([0-9]{1,9})?$", var.high_threshold))
    error_message = "high_threshold is a whole number or empty."
  }
}

variable "medium_threshold" {
  description = "Most MEDIUM findings allowed; empty = no parameter = no limit."
  type        = string
  default     = "20"
  validation {
    condition     = can(regex("^([0-9]{1,9})?$", var.medium_threshold))
    error_message = "medium_threshold is a whole number or empty."
  }
}

variable "low_threshold" {
  description = "Most LOW findings allowed; empty (the default) = no parameter = no limit."
  type        = string
  default     = ""
  validation {
    condition     = can(regex("^([0-9]{1,9})?$", var.low_threshold))
    error_message = "low_threshold is a whole number or empty."
  }
}

variable "deploy_subject" {
  description = "Exact sub claim of the job that deploys (GitHub: an environment such as production)."
  type        = string
  validation {
    condition     = can(regex(local.subject_pattern, var.deploy_subject))
    error_message = "deploy_subject names one repository and one branch or environment, without wildcards."
  }
}

variable "repository_name" {
  description = "Name of the ECR repository the push role may push to (and only to)."
  type        = string
  default     = "user-authenticator"
}

variable "production_tag_prefix" {
  description = "Tag prefix of production images; the newest 10 are kept."
  type        = string
  default     = "prod-"
}

variable "staging_tag_prefix" {
  description = "Tag prefix of staging images; the newest 5 are kept."
  type        = string
  default     = "staging-"
}

variable "development_tag_prefix" {
  description = "Tag prefix of development images; expired 7 days after push."
  type        = string
  default     = "dev-"
}

variable "codebuild_role_arn" {
  description = "Role of the CodeBuild project (templates/codebuild/terraform, output role_arn) that pushes to this repository: the repository policy lets it write images too. Empty: only the push role writes."
  type        = string
  default     = ""
  validation {
    condition     = can(regex("^$|^arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]{1,512}$", var.codebuild_role_arn))
    error_message = "codebuild_role_arn is an IAM role ARN (or empty)."
  }
}

variable "eks_cluster_name" {
  description = "The one EKS cluster the deploy role may describe (and be mapped into)."
  type        = string
}

variable "create_eks_access_entry" {
  description = "Map the deploy role to deploy_kubernetes_group with an EKS access entry (authentication mode API or API_AND_CONFIG_MAP)."
  type        = bool
  default     = true
}

variable "deploy_kubernetes_group" {
  description = "Kubernetes group of the deploy role; templates/k8s/rbac binds it to a namespaced Role."
  type        = string
  default     = "scangate-deployers"
}

variable "monitoring_event_bus" {
  description = "EventBridge bus (name, this account and region) of the registry monitoring stack (templates/terraform/monitoring; its rule is on default). Set: the deploy role may send the deploy job's `scangate mark-deployed` event to it (events:PutEvents on that bus only). Empty: no such permission."
  type        = string
  default     = ""
  validation {
    condition     = can(regex("^$|^[A-Za-z0-9._-]{1,256}$", var.monitoring_event_bus))
    error_message = "monitoring_event_bus is an event bus name (or empty)."
  }
}

variable "role_name_prefix" {
  description = "Role and policy names are PREFIX-push, PREFIX-publish, PREFIX-gate and PREFIX-deploy."
  type        = string
  default     = "scangate"
}
