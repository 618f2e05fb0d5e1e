output "table_name" {
  value = aws_dynamodb_table.monitor.name
}

output "events_queue_url" {
  value = aws_sqs_queue.events.url
}

output "dead_letter_queue_url" {
  value = aws_sqs_queue.dead_letter.url
}

output "topic_arn" {
  value = aws_sns_topic.alerts.arn
}

output "function_name" {
  value = aws_lambda_function.monitor.function_name
}
