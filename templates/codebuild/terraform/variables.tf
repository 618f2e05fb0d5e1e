variable "source_location" {
  description = "HTTPS clone URL of the application repository (its root holds the Dockerfile and a copy of buildspec.yml)."
  type        = string
}

variable "scangate_source_location" {
  description = "HTTPS clone URL of scangate (secondary source \"scangate\")."
  type        = string
}

variable "scangate_source_version" {
  description = "The scangate commit to run (a full commit SHA, never a branch)."
  type        = string
  validation {
    condition     = can(regex("^[0-9a-f]{40}$", var.scangate_source_version))
    error_message = "A full 40-character commit SHA."
  }
}

variable "repository_name" {
  description = "The ECR repository the image is pushed to."
  type        = string
}

variable "policy_parameter_name" {
  description = "SSM parameter holding the policy YAML (the one CI and the monitor read)."
  type        = string
  default     = "/scangate/policy"
}

variable "tag_environment" {
  description = "Prefix of the pushed tag (prod, staging or dev)."
  type        = string
  default     = "staging"
  validation {
    condition     = contains(["prod", "staging", "dev"], var.tag_environment)
    error_message = "prod, staging or dev."
  }
}

variable "alerts_topic_arn" {
  description = "SNS topic for the build's notification; empty for none."
  type        = string
  default     = ""
}

variable "alerts_topic_key_arn" {
  description = "KMS key of the alerts topic when it uses a customer-managed key; empty otherwise."
  type        = string
  default     = ""
}

variable "trivy_version" {
  description = "The pinned Trivy release."
  type        = string
  default     = "0.58.1"
}

variable "trivy_sha256" {
  description = "sha256 of trivy_<version>_Linux-64bit.tar.gz (from the release's checksums file)."
  type        = string
  validation {
    condition     = can(regex("^[0-9a-f]{64}$", var.trivy_sha256))
    error_message = "A sha256 in lowercase hex."
  }
}

variable "buildspec_path" {
  description = "Path of the copy of templates/codebuild/buildspec.yml in the application repository."
  type        = string
  default     = "buildspec.yml"
}
