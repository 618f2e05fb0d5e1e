"""Policies and thresholds from SSM Parameter Store.

A missing, unreadable or malformed parameter is an error naming the parameter, never a silent
default: a gate that quietly fell back to "no limits" because a parameter was renamed would pass
every image.
"""

from __future__ import annotations

import re
from typing import Any

from scangate.aws.clients import AWS_FAILURES, client, describe, error_code
from scangate.errors import AwsError, PolicyError
from scangate.policy import Policy, parse_policy
from scangate.severity import Severity

# The four limits a threshold prefix must hold; UNKNOWN is optional.
REQUIRED_THRESHOLDS = (Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM, Severity.LOW)
OPTIONAL_THRESHOLDS = (Severity.UNKNOWN,)
_WHOLE_NUMBER = re.compile(r"[0-9]+")
_TEXT_TYPES = ("String", "SecureString")
_READ_NEEDS = "ssm:GetParameter (plus kms:Decrypt on the key of a SecureString)"


def _ssm(region: str | None) -> Any:
    return client("ssm", region)


def _check_name(name: str, what: str) -> str:
    name = name.strip()
    if not name:
        raise AwsError(f"{what}: empty SSM parameter name (write it as ssm:/path/to/parameter)")
    if "/" in name and not name.startswith("/"):
        raise AwsError(
            f"{what}: SSM parameter {name!r}: a hierarchical name must start with '/'"
        )
    return name


def load_policy_from_ssm(parameter_name: str, *, region: str | None = None) -> Policy:
    """Read a policy document (YAML) from a String or SecureString parameter, decrypted."""
    name = _check_name(parameter_name, "--policy")
    source = f"ssm:{name}"
    ssm = _ssm(region)
    try:
        response = ssm.get_parameter(Name=name, WithDecryption=True)
    except AWS_FAILURES as exc:
        if error_code(exc) == "ParameterNotFound":
            raise AwsError(
                f"{source}: parameter not found in region {ssm.meta.region_name}; create it "
                "(aws ssm put-parameter --type SecureString --name NAME --value file://policy.yml)"
                " or fix the name or region"
            ) from None
        raise describe(exc, f"{source}: ssm GetParameter", _READ_NEEDS) from None
    parameter = response.get("Parameter") or {}
    kind = parameter.get("Type")
    if kind not in _TEXT_TYPES:
        raise PolicyError(
            f"{source}: parameter type is {kind}, expected String or SecureString holding the "
            "policy YAML"
        )
    return parse_policy(str(parameter.get("Value", "")), source)


def _threshold_names(prefix: str) -> dict[Severity, str]:
    base = prefix.rstrip("/")
    return {s: f"{base}/{s.key}" for s in (*REQUIRED_THRESHOLDS, *OPTIONAL_THRESHOLDS)}


def _parse_limit(name: str, parameter: dict[str, Any]) -> int:
    kind = parameter.get("Type")
    if kind not in _TEXT_TYPES:
        raise AwsError(f"ssm:{name}: parameter type is {kind}, expected String or SecureString")
    value = str(parameter.get("Value", "")).strip()
    if value.startswith("-") and _WHOLE_NUMBER.fullmatch(value[1:]):
        raise AwsError(f"ssm:{name}: {value!r} is negative; a limit is a whole number >= 0")
    if not _WHOLE_NUMBER.fullmatch(value):
        raise AwsError(f"ssm:{name}: {value!r} is not a whole number >= 0")
    return int(value)


def thresholds_from_ssm(prefix: str, *, region: str | None = None) -> dict[Severity, int]:
    """Read PREFIX/{critical,high,medium,low} (and PREFIX/unknown when present) as limits."""
    prefix = _check_name(prefix, "--thresholds-from-ssm")
    if not prefix.startswith("/"):
        raise AwsError(
            f"--thresholds-from-ssm: prefix {prefix!r} must start with '/' "
            "(e.g. /container-security/vulnerability-thresholds)"
        )
    names = _threshold_names(prefix)
    ssm = _ssm(region)
    try:
        # One call for all five (GetParameters takes up to 10 names).
        response = ssm.get_parameters(Names=list(names.values()), WithDecryption=True)
    except AWS_FAILURES as exc:
        raise describe(
            exc, f"ssm:{prefix}: ssm GetParameters",
            "ssm:GetParameters (plus kms:Decrypt on the key of a SecureString)",
        ) from None
    found = {p.get("Name"): p for p in response.get("Parameters") or []}
    missing = [names[s] for s in REQUIRED_THRESHOLDS if names[s] not in found]
    if missing:
        raise AwsError(
            f"ssm:{prefix}: missing threshold parameter(s) {', '.join(missing)} in region "
            f"{ssm.meta.region_name}; create each with a whole number (0 = none allowed)"
        )
    thresholds: dict[Severity, int] = {}
    problems: list[str] = []
    for severity, name in names.items():
        if name not in found:
            continue
        try:
            thresholds[severity] = _parse_limit(name, found[name])
        except AwsError as exc:
            problems.append(exc.message)
    if problems:
        # Name every bad parameter at once, so one fix-and-rerun is enough.
        raise AwsError("; ".join(problems))
    return thresholds
