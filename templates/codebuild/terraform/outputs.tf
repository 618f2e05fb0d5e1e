output "project_name" {
  value = aws_codebuild_project.pipeline.name
}

output "role_arn" {
  value = aws_iam_role.pipeline.arn
}
