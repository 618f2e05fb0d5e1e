# Same outputs as templates/aws/scangate-pipeline.yaml (snake_case).

output "push_role_arn" {
  description = "role-to-assume of the build/push job"
  value       = aws_iam_role.ci["push"].arn
}

output "publish_role_arn" {
  description = "role-to-assume of the Security Hub publish job"
  value       = aws_iam_role.ci["publish"].arn
}

output "gate_role_arn" {
  description = "role of the gate job (scangate gate --thresholds-from-ssm, scangate notify --role-arn)"
  value       = aws_iam_role.ci["gate"].arn
}

output "deploy_role_arn" {
  description = "role-to-assume of the deploy job"
  value       = aws_iam_role.ci["deploy"].arn
}

output "repository_name" {
  description = "ECR repository name (scangate ecr-findings --repository)"
  value       = aws_ecr_repository.this.name
}

output "repository_arn" {
  description = "ECR repository ARN"
  value       = aws_ecr_repository.this.arn
}

output "repository_uri" {
  description = "image name to build, push and pin (ACCOUNT.dkr.ecr.REGION.amazonaws.com/NAME)"
  value       = aws_ecr_repository.this.repository_url
}

output "repository_kms_key_arn" {
  description = "customer-managed KMS key of the repository"
  value       = aws_kms_key.repository.arn
}

output "security_hub_product_arn" {
  description = "scangate securityhub --product-arn (the account's own custom integration)"
  value       = local.security_hub_product_arn
}

output "eks_cluster_name" {
  description = "cluster the deploy role may describe"
  value       = var.eks_cluster_name
}

output "deploy_kubernetes_group" {
  description = "Kubernetes group of the deploy role (bind it with templates/k8s/rbac)"
  value       = var.deploy_kubernetes_group
}

output "oidc_provider_arn" {
  description = "OIDC provider the roles trust"
  value       = local.oidc_provider_arn
}

output "thresholds_parameter_prefix" {
  description = "scangate gate --thresholds-from-ssm"
  value       = var.thresholds_parameter_prefix
}

output "alerts_topic_arn" {
  description = "scangate notify --sns-topic-arn (KMS-encrypted)"
  value       = aws_sns_topic.alerts.arn
}

output "alerts_kms_key_arn" {
  description = "customer-managed KMS key of the alerts topic"
  value       = aws_kms_key.alerts.arn
}
