"""AWS integrations: Security Hub import, ECR scan findings, SSM thresholds, SNS alerts.

boto3 is imported only here (and only when one of these commands runs), so the gate itself works
without AWS libraries being configured. Every client uses the default credential chain and
honours ``AWS_ENDPOINT_URL``, so the same code runs against AWS and against a local moto server.
"""
