"""Policies and thresholds from SSM Parameter Store.

An unreadable or malformed parameter is an error naming the parameter, never a silent default.
Thresholds follow the policy file's rule: a severity without a parameter has no limit from SSM
(the seed defines critical, high and medium only). A prefix under which NO threshold parameter
exists is an error, though: a renamed or mistyped prefix must not turn into "no limits" and pass
every image.
"""

from __future__ import annotations

import re
from typing import Any

from scangate.aws.clients import AWS_FAILURES, client, describe, error_code
from scangate.errors import AwsError, PolicyError
from scangate.policy import Policy, parse_policy
from scangate.severity import Severity

# PREFIX/<severity> for each of these; any may be missing (no limit), not all of them.
THRESHOLDS = (Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM, Severity.LOW, Severity.UNKNOWN)
_WHOLE_NUMBER = re.compile(r"[0-9]+")
_TEXT_TYPES = ("String", "SecureString")
_READ_NEEDS = "ssm:GetParameter (plus kms:Decrypt on the key of a SecureString)"


def _ssm(region: str | None, session: Any = None) -> Any:
    return client("ssm", region, session=session)


def _check_name(name: str, what: str) -> str:
    name = name.strip()
    if not name:
        raise AwsError(f"{what}: empty SSM parameter name (write it as ssm:/path/to/parameter)")
    if "/" in name and not name.startswith("/"):
        raise AwsError(
            f"{what}: SSM parameter {name!r}: a hierarchical name must start with '/'"
        )
    return name


def load_policy_from_ssm(parameter_name: str, *, region: str | None = None,
                        session: Any = None) -> Policy:
    """Read a policy document (YAML) from a String or SecureString parameter, decrypted.
    ``session``: a boto3 session (an assumed role's), default the default chain."""
    return load_versioned_policy_from_ssm(parameter_name, region=region, session=session)[0]


def load_versioned_policy_from_ssm(parameter_name: str, *, region: str | None = None,
                                   session: Any = None) -> tuple[Policy, int]:
    """The policy and the parameter's version (SSM numbers every change; the monitor orders
    decisions by it)."""
    name = _check_name(parameter_name, "--policy")
    source = f"ssm:{name}"
    ssm = _ssm(region, session)
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
    version = parameter.get("Version")
    return (parse_policy(str(parameter.get("Value", "")), source),
            version if isinstance(version, int) else 0)


def _threshold_names(prefix: str) -> dict[Severity, str]:
    base = prefix.rstrip("/")
    return {s: f"{base}/{s.key}" for s in THRESHOLDS}


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


def thresholds_from_ssm(prefix: str, *, region: str | None = None,
                        session: Any = None) -> dict[Severity, int]:
    """The limits under PREFIX/{critical,high,medium,low,unknown} that exist (a missing one: no
    limit); at least one must exist. ``session``: a boto3 session, default the default chain."""
    prefix = _check_name(prefix, "--thresholds-from-ssm")
    if not prefix.startswith("/"):
        raise AwsError(
            f"--thresholds-from-ssm: prefix {prefix!r} must start with '/' "
            "(e.g. /container-security/vulnerability-thresholds)"
        )
    names = _threshold_names(prefix)
    ssm = _ssm(region, session)
    try:
        # One call for all five (GetParameters takes up to 10 names).
        response = ssm.get_parameters(Names=list(names.values()), WithDecryption=True)
    except AWS_FAILURES as exc:
        raise describe(
            exc, f"ssm:{prefix}: ssm GetParameters",
            "ssm:GetParameters (plus kms:Decrypt on the key of a SecureString)",
        ) from None
    found = {p.get("Name"): p for p in response.get("Parameters") or []}
    if not any(name in found for name in names.values()):
        raise AwsError(
            f"ssm:{prefix}: no threshold parameter in region {ssm.meta.region_name} (looked for "
            f"{', '.join(names.values())}); create them (templates/aws or templates/terraform "
            "seed critical 0, high 5, medium 20) or fix the prefix or region"
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
