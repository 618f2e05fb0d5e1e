"""The gate's policy: per-severity limits, which classes count, and waivers that expire.

Policies are YAML validated against ``schemas/policy.schema.json`` (shipped in the package).
CLI overrides (``--fail-on``, ``--max-*``, ``--ignore-unfixed``) are applied on top.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import json
import re
from dataclasses import dataclass, field, replace
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

import yaml

from scangate.errors import PolicyError
from scangate.findings import KINDS, Finding, Kind
from scangate.input_files import InputFileError, InputFileNotFound, read_input
from scangate.severity import Severity

if TYPE_CHECKING:
    import jsonschema


@dataclass(frozen=True, slots=True)
class Waiver:
    id: str
    reason: str
    expires: dt.date
    package: str | None = None
    target: str | None = None
    # OpenVEX's justification for "not_affected" (None: the risk is accepted, not disproved).
    justification: str | None = None

    def is_expired(self, today: dt.date) -> bool:
        # `expires` is the last day the waiver applies.
        return today > self.expires

    def matches(self, finding: Finding) -> bool:
        if finding.id.casefold() != self.id.casefold():
            return False
        if self.package is not None and finding.package != self.package:
            return False
        if self.target is not None and not fnmatch.fnmatchcase(finding.target, self.target):
            return False
        return True


@dataclass(frozen=True, slots=True)
class EpssRule:
    """Fail on a vulnerability at ``min_severity`` or above whose EPSS score (or percentile)
    is at least the limit. Exactly one of ``score`` and ``percentile`` is set."""

    min_severity: Severity
    score: float | None = None
    percentile: float | None = None

    def describe(self) -> str:
        what = f"score >= {self.score}" if self.score is not None else \
            f"percentile >= {self.percentile}"
        return f"EPSS {what} at {self.min_severity.name} and above"


# OpenVEX v0.2.0's justifications for status not_affected (OPENVEX-SPEC.md, "Status
# Justifications").
OPENVEX_JUSTIFICATIONS = (
    "component_not_present",
    "vulnerable_code_not_present",
    "vulnerable_code_not_in_execute_path",
    "vulnerable_code_cannot_be_controlled_by_adversary",
    "inline_mitigations_already_exist",
)
# How old a feed may be unless the policy says otherwise: CISA adds to KEV a few times a week
# (and dateReleased moves only then); FIRST publishes EPSS daily.
DEFAULT_KEV_MAX_AGE_DAYS = 14
DEFAULT_EPSS_MAX_AGE_DAYS = 3
# A waiver is a decision to revisit: one may run at most this long past the day the gate runs
# (a "9999-12-31" expiry is a permanent hole). Ninety days is a common risk-acceptance review
# period; the policy can set 1 to 3650.
DEFAULT_MAX_WAIVER_DAYS = 90


@dataclass(frozen=True, slots=True)
class Policy:
    thresholds: dict[Severity, int]
    ignore_unfixed: bool = False
    classes: frozenset[Kind] = frozenset(KINDS)
    waivers: tuple[Waiver, ...] = ()
    # Severities at which only findings new against the baseline count (gate --baseline).
    new_only: frozenset[Severity] = frozenset()
    source: str = "built-in default"
    overrides: tuple[str, ...] = field(default=())
    # `kev: fail`: any vulnerability in CISA's KEV catalog fails the gate, whatever its severity.
    kev_fail: bool = False
    kev_max_age_days: int = DEFAULT_KEV_MAX_AGE_DAYS
    epss_rules: tuple[EpssRule, ...] = ()
    epss_max_age_days: int = DEFAULT_EPSS_MAX_AGE_DAYS
    # VEX documents (by sha256) whose suppressions count as waived: id "vex:sha256:<hex>".
    accepted_vex: dict[str, Waiver] = field(default_factory=dict)
    max_waiver_days: int = DEFAULT_MAX_WAIVER_DAYS

    def check_waiver_horizon(self, today: dt.date) -> None:
        """Refuse a waiver that runs more than max_waiver_days past ``today``."""
        horizon = today + dt.timedelta(days=self.max_waiver_days)
        for number, waiver in enumerate(self.waivers):
            if waiver.expires > horizon:
                raise PolicyError(
                    f"{self.source}: waivers/{number} ({waiver.id}): expires "
                    f"{waiver.expires.isoformat()}, more than max_waiver_days "
                    f"({self.max_waiver_days}) after today ({today.isoformat()}); give it an "
                    f"expiry by {horizon.isoformat()} and review the finding then, or raise "
                    "max_waiver_days in the policy")
        for number, (digest, accepted) in enumerate(self.accepted_vex.items()):
            if accepted.expires > horizon:
                raise PolicyError(
                    f"{self.source}: accepted_vex/{number} ({digest}): expires "
                    f"{accepted.expires.isoformat()}, more than max_waiver_days "
                    f"({self.max_waiver_days}) after today ({today.isoformat()}); give it an "
                    f"expiry by {horizon.isoformat()} and review the document then, or raise "
                    "max_waiver_days in the policy")

    @property
    def needs_kev(self) -> bool:
        return self.kev_fail

    @property
    def needs_epss(self) -> bool:
        return bool(self.epss_rules)


# The largest limit (a 64-bit signed integer, what every consumer of the JSON summary reads).
MAX_LIMIT = 2**63 - 1

# With no policy the gate fails on any CRITICAL finding: the rule the project exists for.
DEFAULT_THRESHOLDS = {Severity.CRITICAL: 0}
DEFAULT_POLICY = Policy(thresholds=dict(DEFAULT_THRESHOLDS))


@cache
def policy_schema() -> dict[str, Any]:
    text = resources.files("scangate").joinpath("schemas/policy.schema.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def _yaml_loader() -> type[yaml.SafeLoader]:
    """A safe loader that refuses duplicate keys (YAML silently keeps the last one)."""

    class Loader(_PolicyComposer):
        pass

    # Keep dates as text: PyYAML's own date parsing raises on 2030-13-45 instead of reporting.
    Loader.yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }

    def construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise yaml.constructor.ConstructorError(
                    None, None, "YAML merge keys (<<) are not supported in a policy: write the "
                    "keys out in full", key_node.start_mark)
            if not isinstance(key_node, yaml.ScalarNode):
                raise yaml.constructor.ConstructorError(
                    None, None, "a key must be a plain name, not a list or a map",
                    key_node.start_mark)
            key = loader.construct_object(key_node)  # type: ignore[no-untyped-call]
            if not isinstance(key, str):
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} is not a name (quote it if it is one)",
                    key_node.start_mark)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return loader.construct_mapping(node)

    Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, construct_mapping)
    return Loader


# A policy is three levels deep; this leaves room and stays far from Python's recursion limit.
_MAX_DEPTH = 32


class _PolicyComposer(yaml.SafeLoader):
    """Refuses anchors and aliases (a few hundred bytes of aliases expand into gigabytes: the
    "billion laughs") and nesting deeper than a policy ever needs, while the document is being
    composed, before anything is built from it."""

    _depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()  # type: ignore[no-untyped-call]
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            raise yaml.composer.ComposerError(
                None, None, "anchors and aliases (&name, *name) are not allowed in a policy: "
                "write the values out", event.start_mark)
        self._depth += 1
        try:
            if self._depth > _MAX_DEPTH:
                raise yaml.composer.ComposerError(
                    None, None, f"nested deeper than {_MAX_DEPTH} levels: not a policy",
                    event.start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


_SURROGATE = re.compile("[\ud800-\udfff]")


def _refuse_surrogates(node: Any, source: str, where: str) -> None:
    """A lone surrogate ("\\udc80" in a double-quoted YAML string) is text no JSON output can
    carry: refused here, whichever outputs the run asked for."""
    if isinstance(node, str):
        found = _SURROGATE.search(node)
        if found:
            raise PolicyError(f"{source}: {where or 'the document'}: a lone surrogate "
                              f"({found.group()!a}) is not text; write the character "
                              "itself")
    elif isinstance(node, dict):
        for key, value in node.items():
            name = str(key).encode("utf-8", "backslashreplace").decode("utf-8")
            _refuse_surrogates(key, source, f"{where}/{name}" if where else name)
            _refuse_surrogates(value, source, f"{where}/{name}" if where else name)
    elif isinstance(node, list):
        for number, value in enumerate(node):
            _refuse_surrogates(value, source, f"{where}/{number}")


def _normalise(doc: Any, source: str) -> Any:
    """Lowercase threshold keys (severity names are case-insensitive) and dates to strings."""
    if not isinstance(doc, dict):
        return doc
    thresholds = doc.get("thresholds")
    if isinstance(thresholds, dict):
        lowered: dict[Any, Any] = {}
        for key, value in thresholds.items():
            name = key.lower() if isinstance(key, str) else key
            if name in lowered:
                raise PolicyError(f"{source}: thresholds: {key!r} given twice (names ignore case)")
            lowered[name] = value
        doc["thresholds"] = lowered
    new_only = doc.get("new_only")
    if isinstance(new_only, list):
        doc["new_only"] = [v.lower() if isinstance(v, str) else v for v in new_only]
    epss = doc.get("epss")
    if isinstance(epss, dict) and isinstance(epss.get("fail"), list):
        for rule in epss["fail"]:
            if isinstance(rule, dict) and isinstance(rule.get("min_severity"), str):
                rule["min_severity"] = rule["min_severity"].lower()
    waivers = doc.get("waivers")
    if isinstance(waivers, list):
        for waiver in waivers:
            if isinstance(waiver, dict) and isinstance(waiver.get("expires"), dt.date):
                waiver["expires"] = waiver["expires"].isoformat()
    return doc


def _describe(error: jsonschema.ValidationError) -> str:
    where = "/".join(str(p) for p in error.absolute_path) or "(top level)"
    if error.validator == "additionalProperties":
        return f"{where}: {error.message} (see the policy reference in the README)"
    if error.validator == "required":
        return f"{where}: {error.message}"
    if error.validator == "enum" and "classes" in where:
        return (f"{where}: {error.instance!r} is not a class "
                "(vulnerability, secret, misconfiguration)")
    return f"{where}: {error.message}"


def parse_policy(text: str, source: str) -> Policy:
    """Parse and validate a policy document; ``source`` names it in error messages."""
    try:
        doc = yaml.load(text, Loader=_yaml_loader())  # noqa: S506 - a SafeLoader subclass
    except (yaml.YAMLError, ValueError) as exc:
        where = str(exc).replace('in "<unicode string>", ', "at ")
        raise PolicyError(f"{source}: not valid YAML: {' '.join(where.split())}") from None
    except RecursionError:
        raise PolicyError(f"{source}: not valid YAML: nested too deeply") from None
    if doc is None:
        raise PolicyError(f"{source}: policy is empty; it needs at least `version: 1`")
    _refuse_surrogates(doc, source, "")
    doc = _normalise(doc, source)
    # Imported here: a gate run without a policy file (limits from flags) never pays for
    # jsonschema's import, a quarter of the gate's start-up.
    import jsonschema

    validator = jsonschema.Draft202012Validator(
        policy_schema(), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path))
    if errors:
        raise PolicyError(f"{source}: invalid policy: {_describe(errors[0])}")
    waivers = []
    for number, item in enumerate(doc.get("waivers") or []):
        try:
            expires = dt.date.fromisoformat(item["expires"])
        except ValueError:
            raise PolicyError(
                f"{source}: waivers/{number}/expires: {item['expires']!r} is not a date "
                "(YYYY-MM-DD)"
            ) from None
        waivers.append(
            Waiver(
                id=item["id"],
                reason=item["reason"].strip(),
                expires=expires,
                package=item.get("package"),
                target=item.get("target"),
                justification=item.get("justification"),
            )
        )
    accepted_vex: dict[str, Waiver] = {}
    for number, item in enumerate(doc.get("accepted_vex") or []):
        try:
            until = dt.date.fromisoformat(item["expires"])
        except ValueError:
            raise PolicyError(f"{source}: accepted_vex/{number}/expires: {item['expires']!r} is "
                              "not a date (YYYY-MM-DD)") from None
        if item["sha256"] in accepted_vex:
            raise PolicyError(f"{source}: accepted_vex/{number}: sha256 {item['sha256']} is "
                              "listed twice")
        accepted_vex[item["sha256"]] = Waiver(id=f"vex:sha256:{item['sha256']}",
                                              reason=item["reason"].strip(), expires=until)
    kev = doc.get("kev")
    kev_options = kev if isinstance(kev, dict) else {}
    epss = doc.get("epss") or {}
    epss_rules = tuple(
        EpssRule(min_severity=Severity.parse(rule.get("min_severity", "unknown")),
                 score=rule.get("score"), percentile=rule.get("percentile"))
        for rule in epss.get("fail") or [])
    return Policy(
        # No thresholds block keeps the default rule (no CRITICAL); `thresholds: {}` is an
        # explicit "no limits", so a policy that only lists waivers can never pass everything.
        thresholds=(
            {Severity.parse(k): v for k, v in doc["thresholds"].items()}
            if "thresholds" in doc
            else dict(DEFAULT_THRESHOLDS)
        ),
        ignore_unfixed=bool(doc.get("ignore_unfixed", False)),
        classes=frozenset(doc.get("classes") or KINDS),
        waivers=tuple(waivers),
        new_only=frozenset(Severity.parse(v) for v in doc.get("new_only") or ()),
        source=source,
        kev_fail=kev is not None,
        kev_max_age_days=kev_options.get("max_age_days", DEFAULT_KEV_MAX_AGE_DAYS),
        epss_rules=epss_rules,
        epss_max_age_days=epss.get("max_age_days", DEFAULT_EPSS_MAX_AGE_DAYS),
        accepted_vex=accepted_vex,
        max_waiver_days=doc.get("max_waiver_days", DEFAULT_MAX_WAIVER_DAYS),
    )


# A policy is a few kilobytes; this bounds what a device or a FIFO named as one can feed us.
MAX_POLICY_BYTES = 1 << 20


def load_policy_file(path: str) -> Policy:
    try:
        text = read_input(path, MAX_POLICY_BYTES).decode("utf-8")
    except InputFileNotFound:
        raise PolicyError(f"{path}: policy file not found") from None
    except InputFileError as exc:
        raise PolicyError(f"{path}: cannot read policy: {exc}") from None
    except UnicodeDecodeError as exc:
        raise PolicyError(f"{path}: cannot read policy: not UTF-8 ({exc.reason} at byte "
                          f"{exc.start})") from None
    return parse_policy(text, path)


def with_overrides(
    policy: Policy,
    *,
    fail_on: Severity | None = None,
    max_counts: dict[Severity, int] | None = None,
    ignore_unfixed: bool = False,
) -> Policy:
    """Apply the pipeline's overrides: each named limit replaces the policy's, then --fail-on
    sets every severity at or above it to 0. So where a limit and --fail-on disagree (an SSM
    threshold of 5 CRITICAL with --fail-on HIGH), the strictest wins and the overrides say so;
    the CLI refuses such a pair of its own flags before this."""
    thresholds = dict(policy.thresholds)
    notes = list(policy.overrides)
    for severity, limit in (max_counts or {}).items():
        thresholds[severity] = limit
        notes.append(f"--max-{severity.key} {limit}")
    if fail_on is not None:
        for severity in Severity:
            if severity >= fail_on:
                if thresholds.get(severity, 0) > 0 and severity in (max_counts or {}):
                    notes.append(f"{severity.key} kept at 0, not {thresholds[severity]}: "
                                 f"--fail-on {fail_on.name} is stricter")
                thresholds[severity] = 0
        notes.append(f"--fail-on {fail_on.name}")
    if ignore_unfixed:
        notes.append("--ignore-unfixed")
    return replace(
        policy,
        thresholds=thresholds,
        ignore_unfixed=policy.ignore_unfixed or ignore_unfixed,
        overrides=tuple(notes),
    )
