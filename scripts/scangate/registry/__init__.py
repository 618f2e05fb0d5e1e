"""Pushing a scanned image archive to a registry and proving the registry holds that image.

archive.py reads docker-archive and OCI-layout tarballs; reference.py parses repositories and
tags; client.py speaks the OCI distribution API; ecr_auth.py logs in to ECR through boto3;
decision.py re-reads the gate's summary; push.py ties them together for ``scangate push``.
"""
