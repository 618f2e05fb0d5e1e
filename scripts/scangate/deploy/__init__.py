"""Deploying a pinned image to EKS (``scangate deploy``).

manifests.py decides what may be applied (kinds the deployer RBAC allows, one namespace);
eks_auth.py turns the AWS identity into a kubeconfig (describe_cluster and an EKS token);
kubectl.py runs a checksum-pinned kubectl with nothing from the runner's environment.
"""
