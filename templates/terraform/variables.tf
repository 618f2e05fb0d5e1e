# Same parameters as templates/aws/scangate-pipeline.yaml (snake_case). See docs/templates.md.

locals {
  # One repository and one branch or environment, no wildcard (GitHub name form, GitHub
  # immutable-id form, GitLab project_path form).
  subject_pattern = "^(repo:[A-Za-z0-9_.-]+(@[0-9]+)?/[A-Za-z0-9_.-]+(@[0-9]+)?:(ref:refs/heads/[A-Za-z0-9_./-]+|environment:[A-Za-z0-9_.-]+)|project_path:[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)+:ref_type:branch:ref:[A-Za-z0-9_./-]+)$"
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
  description = "The aud claim the roles require (GitHub with configure-aws-credentials: sts.amazonaws.com; GitLab: the aud of the job's id_tokens entry)."
  type        = string
  default     = "sts.amazonaws.com"
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

variable "enable_enhanced_scanning" {
  description = "Set the REGISTRY's scanning configuration to enhanced (Amazon Inspector, continuous) for this repository. Registry-wide: replaces existing rules."
  type        = bool
  default     = false
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

variable "role_name_prefix" {
  description = "Role and policy names are PREFIX-push, PREFIX-publish and PREFIX-deploy."
  type        = string
  default     = "scangate"
}
