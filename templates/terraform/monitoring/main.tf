# scangate continuous registry monitoring (the same resources as
# templates/aws/scangate-monitoring.yaml; tests/monitor/test_templates.py keeps them equal).

data "aws_caller_identity" "current" {}
data "aws_region" "current" {}
data "aws_partition" "current" {}

locals {
  account   = data.aws_caller_identity.current.account_id
  region    = data.aws_region.current.name
  partition = data.aws_partition.current.partition
  # EventBridge patterns, shared word for word with the CloudFormation template.
  rules = {
    ecr-image-scan          = "ECR basic scan completed"
    inspector2-scan         = "Inspector (ECR enhanced scanning) initial scan completed"
    inspector2-finding      = "Inspector finding created, updated or closed on a container image"
    scangate-image-deployed = "An image was deployed (or withdrawn); sent by the deploy pipeline"
  }
  parameters = compact([var.policy_parameter_name, var.slack_webhook_parameter_name])
}

resource "aws_kms_key" "monitor" {
  description             = "scangate monitoring (queues, table, topic, logs, function environment)"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  # A key policy ("*" is this key): inline JSON, as in ../main.tf.
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
        # EventBridge writes to the encrypted queue, CloudWatch alarms publish to the topic.
        Sid       = "ServicesEncryptMessages"
        Effect    = "Allow"
        Principal = { Service = ["events.amazonaws.com", "cloudwatch.amazonaws.com"] }
        Action    = ["kms:Decrypt", "kms:GenerateDataKey"]
        Resource  = "*"
        Condition = { StringEquals = { "aws:SourceAccount" = local.account } }
      },
      {
        Sid       = "LogsEncryptTheLogGroup"
        Effect    = "Allow"
        Principal = { Service = "logs.${local.region}.amazonaws.com" }
        Action = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncryptFrom", "kms:ReEncryptTo",
        "kms:GenerateDataKey", "kms:GenerateDataKeyWithoutPlaintext", "kms:DescribeKey"]
        Resource = "*"
        Condition = { ArnLike = {
          "kms:EncryptionContext:aws:logs:arn" = "arn:${local.partition}:logs:${local.region}:${local.account}:log-group:/aws/lambda/${var.name}"
        } }
      },
    ]
  })
}

resource "aws_sqs_queue" "dead_letter" {
  name                      = "${var.name}-dlq"
  kms_master_key_id         = aws_kms_key.monitor.arn
  message_retention_seconds = 1209600
}

resource "aws_sqs_queue" "events" {
  name                      = "${var.name}-events"
  kms_master_key_id         = aws_kms_key.monitor.arn
  message_retention_seconds = 86400
  # Six times the function timeout, as Lambda's SQS documentation recommends.
  visibility_timeout_seconds = 360
  # The function dead-letters a record itself (with its reason) on the 3rd attempt; this is the
  # backstop for a crash or a timeout.
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.dead_letter.arn
    maxReceiveCount     = 5
  })
}

resource "aws_cloudwatch_event_rule" "scan" {
  for_each      = local.rules
  name          = "${var.name}-${each.key}"
  description   = each.value
  event_pattern = file("${path.module}/patterns/${each.key}.json")
}

resource "aws_cloudwatch_event_rule" "sweep" {
  name                = "${var.name}-sweep"
  description         = "Re-evaluate every deployed image"
  schedule_expression = var.sweep_schedule
}

locals {
  # Every rule that sends to the queue: the four patterns and the sweep's schedule.
  all_rules = merge(aws_cloudwatch_event_rule.scan, { sweep = aws_cloudwatch_event_rule.sweep })
  # The queues those rules write to: events, and dead letters of what they cannot deliver.
  rule_queues = {
    events      = { sid = "OnlyTheseRulesSend", queue = aws_sqs_queue.events }
    dead_letter = { sid = "TheseRulesDeadLetter", queue = aws_sqs_queue.dead_letter }
  }
}

resource "aws_cloudwatch_event_target" "queue" {
  for_each = local.all_rules
  rule     = each.value.name
  arn      = aws_sqs_queue.events.arn
  # A delivery EventBridge cannot make (queue policy, key, throttling) is retried for a day,
  # then kept in the dead-letter queue instead of being dropped.
  retry_policy {
    maximum_retry_attempts       = 185
    maximum_event_age_in_seconds = 86400
  }
  dead_letter_config {
    arn = aws_sqs_queue.dead_letter.arn
  }
}

moved {
  from = aws_cloudwatch_event_target.scan
  to   = aws_cloudwatch_event_target.queue
}

moved {
  from = aws_cloudwatch_event_target.sweep
  to   = aws_cloudwatch_event_target.queue["sweep"]
}

# Only these rules may send to the events queue, and dead-letter what they cannot deliver (the
# function writes its own dead letters through its role).
data "aws_iam_policy_document" "rules_send" {
  for_each = local.rule_queues
  statement {
    sid       = each.value.sid
    actions   = ["sqs:SendMessage"]
    resources = [each.value.queue.arn]
    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }
    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [for rule in local.all_rules : rule.arn]
    }
  }
}

resource "aws_sqs_queue_policy" "rules_send" {
  for_each  = local.rule_queues
  queue_url = each.value.queue.id
  policy    = data.aws_iam_policy_document.rules_send[each.key].json
}

moved {
  from = aws_sqs_queue_policy.events
  to   = aws_sqs_queue_policy.rules_send["events"]
}

moved {
  from = aws_sqs_queue_policy.dead_letter
  to   = aws_sqs_queue_policy.rules_send["dead_letter"]
}

resource "aws_dynamodb_table" "monitor" {
  name                        = var.name
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "pk"
  range_key                   = "sk"
  deletion_protection_enabled = true

  point_in_time_recovery {
    enabled = true
  }

  # History items carry expires_at (epoch seconds, scangate.monitor.store.HISTORY_DAYS after
  # they were written); DynamoDB deletes them after that, at no cost.
  ttl {
    attribute_name = "expires_at"
    enabled        = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = aws_kms_key.monitor.arn
  }

  attribute {
    name = "pk"
    type = "S"
  }
  attribute {
    name = "sk"
    type = "S"
  }
  attribute {
    name = "deployed_pk"
    type = "S"
  }
  attribute {
    name = "fixed_severity"
    type = "S"
  }
  attribute {
    name = "fixed_at"
    type = "S"
  }

  # Sparse: only images marked deployed carry deployed_pk (the sweep's list).
  global_secondary_index {
    name               = "deployed"
    hash_key           = "deployed_pk"
    range_key          = "pk"
    projection_type    = "INCLUDE"
    non_key_attributes = ["repository", "registry_id", "digest", "decision"]
  }

  # Sparse: only fixed findings; mean time to remediate per severity in one Query.
  global_secondary_index {
    name               = "fixed"
    hash_key           = "fixed_severity"
    range_key          = "fixed_at"
    projection_type    = "INCLUDE"
    non_key_attributes = ["repository", "vulnerability_id", "package", "first_seen", "mttr_seconds"]
  }
}

resource "aws_sns_topic" "alerts" {
  name              = "${var.name}-alerts"
  kms_master_key_id = aws_kms_key.monitor.arn
}

resource "aws_cloudwatch_log_group" "monitor" {
  name              = "/aws/lambda/${var.name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.monitor.arn
}

data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account]
    }
  }
}

data "aws_iam_policy_document" "monitor" {
  # Read scan findings of any repository in this account and region; no write to ECR.
  statement {
    sid       = "ReadScanFindings"
    actions   = ["ecr:DescribeRepositories", "ecr:DescribeImages", "ecr:DescribeImageScanFindings"]
    resources = ["arn:${local.partition}:ecr:${local.region}:${local.account}:repository/*"]
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
    sid       = "ReadPolicy"
    actions   = ["ssm:GetParameter"]
    resources = [for name in local.parameters : "arn:${local.partition}:ssm:${local.region}:${local.account}:parameter${name}"]
  }
  statement {
    sid       = "RecordDecisions"
    actions   = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:Query"]
    resources = [aws_dynamodb_table.monitor.arn, "${aws_dynamodb_table.monitor.arn}/index/deployed"]
  }
  statement {
    sid       = "ConsumeEvents"
    actions   = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:SendMessage"]
    resources = [aws_sqs_queue.events.arn]
  }
  statement {
    sid       = "DeadLetter"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.dead_letter.arn]
  }
  statement {
    sid       = "Alert"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.alerts.arn]
  }
  statement {
    sid       = "UseTheKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.monitor.arn]
  }
  # X-Ray has no resource-level permissions: "*" is the only resource it accepts.
  statement {
    sid       = "Tracing"
    actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
    resources = ["*"]
  }
  statement {
    sid       = "Logs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.monitor.arn}:*"]
  }
}

resource "aws_iam_role" "monitor" {
  name               = var.name
  assume_role_policy = data.aws_iam_policy_document.assume.json
}

resource "aws_iam_role_policy" "monitor" {
  name   = var.name
  role   = aws_iam_role.monitor.id
  policy = data.aws_iam_policy_document.monitor.json
}

resource "aws_lambda_function" "monitor" {
  #checkov:skip=CKV_AWS_117: Talks only to AWS APIs and optionally Slack; a VPC would need NAT or interface endpoints and adds nothing to what the role allows.
  #checkov:skip=CKV_AWS_272: The zip is built reproducibly from hash-pinned locks; code signing needs a Signer profile the operator owns (set code_signing_config_arn).
  function_name                  = var.name
  description                    = "scangate continuous registry monitoring"
  role                           = aws_iam_role.monitor.arn
  runtime                        = "python3.12"
  handler                        = "scangate.monitor.handler.handler"
  filename                       = var.lambda_zip
  source_code_hash               = filebase64sha256(var.lambda_zip)
  timeout                        = 60
  memory_size                    = 512
  reserved_concurrent_executions = var.reserved_concurrency
  kms_key_arn                    = aws_kms_key.monitor.arn
  # The function's first invocations need its policy (logs, the dead-letter queue): created
  # after it, never racing it.
  depends_on = [aws_iam_role_policy.monitor]

  dead_letter_config {
    target_arn = aws_sqs_queue.dead_letter.arn
  }

  tracing_config {
    mode = "Active"
  }

  logging_config {
    log_group  = aws_cloudwatch_log_group.monitor.name
    log_format = "Text"
  }

  environment {
    variables = {
      SCANGATE_TABLE                   = aws_dynamodb_table.monitor.name
      SCANGATE_POLICY_PARAMETER        = var.policy_parameter_name
      SCANGATE_QUEUE_URL               = aws_sqs_queue.events.url
      SCANGATE_DLQ_URL                 = aws_sqs_queue.dead_letter.url
      SCANGATE_SNS_TOPIC_ARN           = aws_sns_topic.alerts.arn
      SCANGATE_SLACK_WEBHOOK_PARAMETER = var.slack_webhook_parameter_name
      SCANGATE_MAX_ATTEMPTS            = "3"
    }
  }
}

resource "aws_lambda_event_source_mapping" "events" {
  function_name                      = aws_lambda_function.monitor.arn
  event_source_arn                   = aws_sqs_queue.events.arn
  batch_size                         = 10
  maximum_batching_window_in_seconds = 5
  function_response_types            = ["ReportBatchItemFailures"]
  # The poller never invokes more than the reserved concurrency lets run (Lambda's SQS scaling
  # does not account for reserved concurrency: throttled batches would go back to the queue
  # with their receive count raised).
  scaling_config {
    maximum_concurrency = var.reserved_concurrency
  }
  # Lambda checks the role can read the queue when the mapping is created: the first apply must
  # not race the role's policy.
  depends_on = [aws_iam_role_policy.monitor]
}

resource "aws_inspector2_enabler" "ecr" {
  count          = var.enable_inspector ? 1 : 0
  account_ids    = [local.account]
  resource_types = ["ECR"]
}

resource "aws_ecr_registry_scanning_configuration" "enhanced" {
  count     = var.enable_inspector ? 1 : 0
  scan_type = "ENHANCED"
  rule {
    scan_frequency = "CONTINUOUS_SCAN"
    repository_filter {
      filter      = "*"
      filter_type = "WILDCARD"
    }
  }
  depends_on = [aws_inspector2_enabler.ecr]
}

locals {
  # The alarms on one metric each: above 0 in a period tells the topic.
  metric_alarms = {
    failing-deployed-images = {
      description = "A deployed image fails the policy (see the ${var.name} table)"
      namespace   = "Scangate/Monitor", metric = "FailingDeployedImages", statistic = "Maximum"
      dimensions  = { Service = "scangate-monitor" }, period = 3600
    }
    errors = {
      description = "The monitor function failed (crash, timeout)"
      namespace   = "AWS/Lambda", metric = "Errors", statistic = "Sum"
      dimensions  = { FunctionName = aws_lambda_function.monitor.function_name }, period = 300
    }
    dead-letters = {
      description = "Events the monitor could not process wait in the dead-letter queue"
      namespace   = "AWS/SQS", metric = "ApproximateNumberOfMessagesVisible", statistic = "Maximum"
      dimensions  = { QueueName = aws_sqs_queue.dead_letter.name }, period = 300
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "metric" {
  for_each            = local.metric_alarms
  alarm_name          = "${var.name}-${each.key}"
  alarm_description   = each.value.description
  namespace           = each.value.namespace
  metric_name         = each.value.metric
  dimensions          = each.value.dimensions
  statistic           = each.value.statistic
  period              = each.value.period
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alerts.arn]
}

moved {
  from = aws_cloudwatch_metric_alarm.failing_deployed_images
  to   = aws_cloudwatch_metric_alarm.metric["failing-deployed-images"]
}

moved {
  from = aws_cloudwatch_metric_alarm.processor_errors
  to   = aws_cloudwatch_metric_alarm.metric["errors"]
}

moved {
  from = aws_cloudwatch_metric_alarm.dead_letters
  to   = aws_cloudwatch_metric_alarm.metric["dead-letters"]
}

# An event EventBridge could not deliver to the queue (after its retries it is in the
# dead-letter queue, which the dead_letters alarm watches too).
resource "aws_cloudwatch_metric_alarm" "failed_deliveries" {
  alarm_name          = "${var.name}-failed-deliveries"
  alarm_description   = "EventBridge could not deliver scan events to the monitor's queue"
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alerts.arn]

  metric_query {
    id          = "failed"
    expression  = "SUM(METRICS())"
    label       = "FailedInvocations (all monitor rules)"
    return_data = true
  }
  dynamic "metric_query" {
    for_each = { for key, rule in local.all_rules : replace(key, "-", "") => rule.name }
    content {
      id = metric_query.key
      metric {
        namespace   = "AWS/Events"
        metric_name = "FailedInvocations"
        dimensions  = { RuleName = metric_query.value }
        period      = 300
        stat        = "Sum"
      }
    }
  }
}

resource "aws_cloudwatch_dashboard" "monitor" {
  dashboard_name = var.name
  dashboard_body = jsonencode({
    widgets = [
      { type = "metric", x = 0, y = 0, width = 12, height = 6, properties = {
        title = "Failing deployed images", region = local.region, stat = "Maximum",
        metrics = [["Scangate/Monitor", "FailingDeployedImages", "Service", "scangate-monitor"],
      ["Scangate/Monitor", "DeployedImages", "Service", "scangate-monitor"]] } },
      { type = "metric", x = 12, y = 0, width = 12, height = 6, properties = {
        title = "Counted findings by severity (all repositories)", region = local.region,
        metrics = [
          [{ expression = "SUM(SEARCH('{Scangate/Monitor,Repository} MetricName=\"FindingsCritical\"', 'Maximum', 3600))", label = "CRITICAL", id = "c" }],
      [{ expression = "SUM(SEARCH('{Scangate/Monitor,Repository} MetricName=\"FindingsHigh\"', 'Maximum', 3600))", label = "HIGH", id = "h" }]] } },
      { type = "metric", x = 0, y = 6, width = 12, height = 6, properties = {
        title = "Processing latency (ms)", region = local.region,
      metrics = [[{ expression = "AVG(SEARCH('{Scangate/Monitor,Repository} MetricName=\"ProcessingLatency\"', 'p90', 300))", label = "p90", id = "l" }]] } },
      { type = "metric", x = 12, y = 6, width = 12, height = 6, properties = {
        title = "Errors and dead letters", region = local.region, stat = "Sum",
        metrics = [["AWS/Lambda", "Errors", "FunctionName", aws_lambda_function.monitor.function_name],
      ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", aws_sqs_queue.dead_letter.name]] } },
    ]
  })
}
