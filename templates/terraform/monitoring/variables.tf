variable "name" {
  description = "Prefix of every resource name."
  type        = string
  default     = "scangate-monitor"
}

variable "policy_parameter_name" {
  description = "SSM parameter (String or SecureString) holding the policy YAML CI uses."
  type        = string
  default     = "/scangate/policy"
  validation {
    condition     = can(regex("^/[A-Za-z0-9_./-]+$", var.policy_parameter_name))
    error_message = "A hierarchical SSM parameter name starting with '/'."
  }
}

variable "slack_webhook_parameter_name" {
  description = "SSM SecureString holding a Slack incoming-webhook URL; empty for no Slack."
  type        = string
  default     = ""
}

variable "lambda_zip" {
  description = "Path of the function zip built by `python -m tools.monitor_package`."
  type        = string
}

variable "sweep_schedule" {
  description = "How often every deployed image is re-evaluated."
  type        = string
  default     = "rate(1 day)"
}

variable "reserved_concurrency" {
  description = "Most concurrent invocations (bounds the DynamoDB and ECR request rate); also the SQS event source's maximum concurrency, so the poller never invokes more than may run."
  type        = number
  default     = 5
  validation {
    condition     = var.reserved_concurrency >= 2 && var.reserved_concurrency <= 1000
    error_message = "reserved_concurrency is between 2 (the event source's minimum maximum concurrency) and 1000."
  }
}

variable "enable_inspector" {
  description = "Enable Amazon Inspector for ECR and switch the registry to enhanced, continuous scanning (billed per image; see docs/monitoring.md)."
  type        = bool
  default     = false
}

variable "log_retention_days" {
  description = "CloudWatch Logs retention of the function's log group."
  type        = number
  default     = 365
}
