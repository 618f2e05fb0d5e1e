"""Continuous registry monitoring: the gate's policy applied to every ECR/Inspector scan event.

EventBridge rules route ``ECR Image Scan``, ``Inspector2 Scan`` and ``Inspector2 Finding``
events (and a daily schedule) to an SQS queue; a Lambda reads the queue in batches
(``handler.handler``). Layers: ``events`` (what an event asks for) -> ``evaluate`` (findings
through scangate.aws.ecr, decision through scangate.gate) -> ``store`` (DynamoDB, ordered by
scan time) -> ``alerts`` and ``metrics``; ``handler`` ties them together per SQS record.
"""
