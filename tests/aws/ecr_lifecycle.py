"""Amazon ECR's lifecycle-policy evaluation, ported from its documentation, for tests.

No emulator evaluates lifecycle policies (moto stores the text only), and the real evaluator runs
inside ECR, so this module ports the documented semantics and is itself tested against every
worked example of the documentation (tests/aws/test_lifecycle.py). Sources:

- Amazon ECR User Guide, "Lifecycle policies" > "Lifecycle policy evaluation rules" (RULES below
  quote it), and "Lifecycle policy properties" (rulePriority, tagStatus, tagPrefixList,
  tagPatternList, countType, countUnit, countNumber, action);
- Amazon ECR User Guide, "Examples of lifecycle policies" (the worked examples).

Evaluation, as documented: every rule marks images on its own ("All rules are evaluated at the
same time, regardless of rule priority"); then an image is expired only by the highest-priority
(lowest rulePriority) rule whose tag selection matches it ("An image that matches the tagging
requirements of a rule cannot be expired by a rule with a lower priority"), and only if that rule
marked it ("An image is expired by exactly one or zero rules").

One point the documentation words two ways: whether a lower-priority rule counts the images a
higher rule selected ("Rules can never mark images that are marked by higher priority rules, but
can still identify them as if they haven't been expired") or no longer sees them (Examples,
"Filtering on multiple rules", example B: "It would see no images because all available images
were already seen by Rule 1"). Both readings agree on every documented example; `evaluate` takes
either (`lower_rules_see_claimed`), so a property can be checked under both.

Parts of the current syntax this port does not evaluate (storageClass, the archive `transition`
action, countType sinceImagePulled/sinceImageTransitioned) are refused, never ignored.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from typing import Any

TAG_STATUSES = ("tagged", "untagged", "any")
COUNT_TYPES = ("imageCountMoreThan", "sinceImagePushed")
MAX_WILDCARDS = 4  # "There is a maximum limit of four wildcards (*) per string."


class LifecyclePolicyError(ValueError):
    """The policy is one ECR refuses, or uses what this port does not evaluate."""


@dataclass(frozen=True)
class Image:
    digest: str
    tags: tuple[str, ...]
    pushed_at: dt.datetime


@dataclass(frozen=True)
class Rule:
    priority: int
    tag_status: str
    prefixes: tuple[str, ...]
    patterns: tuple[str, ...]
    count_type: str
    count_number: int

    def selects(self, image: Image) -> bool:
        """The rule's tagging requirements. "When using the tagPrefixList, an image is
        successfully matched if all of the tags in the tagPrefixList value are matched against
        any of the image's tags" (tagPatternList likewise, with * matching any characters)."""
        if self.tag_status == "any":
            return True
        if self.tag_status == "untagged":
            return not image.tags
        if not image.tags:
            return False
        if self.prefixes:
            return all(any(t.startswith(p) for t in image.tags) for p in self.prefixes)
        return all(any(_pattern(p).fullmatch(t) for t in image.tags) for p in self.patterns)

    def marks(self, images: list[Image], now: dt.datetime) -> set[str]:
        """"Expiration is always ordered by pushed_at_time, and always expires older images
        before newer ones." imageCountMoreThan: sorted youngest to oldest, all images past the
        count are marked; sinceImagePushed: those pushed more than countNumber days ago."""
        if self.count_type == "imageCountMoreThan":
            youngest_first = sorted(images, key=lambda i: i.pushed_at, reverse=True)
            return {i.digest for i in youngest_first[self.count_number:]}
        limit = dt.timedelta(days=self.count_number)
        return {i.digest for i in images if now - i.pushed_at > limit}


def _pattern(pattern: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(part) for part in pattern.split("*")), re.DOTALL)


def _strings(selection: dict[str, Any], key: str, where: str) -> tuple[str, ...]:
    value = selection.get(key)
    if value is None:
        return ()
    if not isinstance(value, list) or not value or not all(
            isinstance(v, str) and v for v in value):
        raise LifecyclePolicyError(f"{where}: {key} must be a non-empty list of strings")
    return tuple(value)


def _rule(raw: Any, where: str) -> Rule:
    if not isinstance(raw, dict) or set(raw) - {"rulePriority", "description", "selection",
                                                "action"}:
        raise LifecyclePolicyError(f"{where}: unexpected rule shape {raw!r}")
    priority = raw.get("rulePriority")
    if not isinstance(priority, int) or isinstance(priority, bool) or priority < 1:
        raise LifecyclePolicyError(f"{where}: rulePriority must be a positive integer")
    if raw.get("action") != {"type": "expire"}:
        raise LifecyclePolicyError(f"{where}: action {raw.get('action')!r} is not evaluated "
                                   "here (only expire)")
    selection = raw.get("selection")
    known = {"tagStatus", "tagPrefixList", "tagPatternList", "countType", "countUnit",
             "countNumber"}
    if not isinstance(selection, dict) or set(selection) - known:
        raise LifecyclePolicyError(f"{where}: selection keys other than {sorted(known)} are not "
                                   f"evaluated here: {selection!r}")
    status = selection.get("tagStatus")
    if status not in TAG_STATUSES:
        raise LifecyclePolicyError(f"{where}: tagStatus {status!r} not in {TAG_STATUSES}")
    prefixes = _strings(selection, "tagPrefixList", where)
    patterns = _strings(selection, "tagPatternList", where)
    if prefixes and patterns:
        raise LifecyclePolicyError(f"{where}: tagPrefixList and tagPatternList together")
    if status == "tagged" and not (prefixes or patterns):
        raise LifecyclePolicyError(f"{where}: tagged needs a tagPrefixList or tagPatternList")
    if status != "tagged" and (prefixes or patterns):
        raise LifecyclePolicyError(f"{where}: {status} must omit tagPrefixList/tagPatternList")
    if any(p.count("*") > MAX_WILDCARDS for p in patterns):
        raise LifecyclePolicyError(f"{where}: more than {MAX_WILDCARDS} wildcards in a pattern")
    count_type = selection.get("countType")
    if count_type not in COUNT_TYPES:
        raise LifecyclePolicyError(f"{where}: countType {count_type!r} is not evaluated here")
    unit = selection.get("countUnit")
    if (count_type == "sinceImagePushed") != (unit is not None) or unit not in (None, "days"):
        raise LifecyclePolicyError(f"{where}: countUnit is 'days' with sinceImagePushed only")
    number = selection.get("countNumber")
    if not isinstance(number, int) or isinstance(number, bool) or number < 1:
        raise LifecyclePolicyError(f"{where}: countNumber must be a positive integer (not 0)")
    return Rule(priority, status, prefixes, patterns, count_type, number)


def parse(policy: str | dict[str, Any]) -> list[Rule]:
    """The rules, highest priority first; refuses what ECR's properties page refuses."""
    document = json.loads(policy) if isinstance(policy, str) else policy
    raw_rules = document.get("rules") if isinstance(document, dict) else None
    if not isinstance(raw_rules, list) or not raw_rules:
        raise LifecyclePolicyError("a lifecycle policy needs a non-empty rules list")
    rules = sorted((_rule(r, f"rule {n}") for n, r in enumerate(raw_rules, 1)),
                   key=lambda r: r.priority)
    priorities = [r.priority for r in rules]
    if len(set(priorities)) != len(priorities):
        raise LifecyclePolicyError(f"rulePriority values must be unique: {priorities}")
    # "A rule with a tagStatus value of any must have the highest value for rulePriority."
    if any(r.tag_status == "any" for r in rules[:-1]):
        raise LifecyclePolicyError("a tagStatus any rule must have the highest rulePriority")
    # "Only one rule is allowed to select untagged images."
    if sum(r.tag_status == "untagged" for r in rules) > 1:
        raise LifecyclePolicyError("only one rule may select untagged images")
    # "The set of rules must contain a unique set of tag prefixes."
    lists = [r.prefixes for r in rules if r.prefixes]
    if len(set(lists)) != len(lists):
        raise LifecyclePolicyError(f"tag prefix lists must be unique: {lists}")
    return rules


def evaluate(policy: str | dict[str, Any], images: list[Image], now: dt.datetime, *,
             lower_rules_see_claimed: bool = True) -> dict[str, int]:
    """digest -> rulePriority of the rule that expires it, for every image expired now.

    lower_rules_see_claimed: a rule counts images a higher-priority rule selected (True, the
    evaluation rules' "identify them as if they haven't been expired") or does not see them
    (False, the wording of the documentation's multiple-rules example B)."""
    rules = parse(policy)
    owner: dict[str, Rule] = {}
    for image in images:
        for rule in rules:
            if rule.selects(image):
                owner[image.digest] = rule
                break
    expired: dict[str, int] = {}
    for rule in rules:
        seen = [i for i in images if rule.selects(i)
                and (lower_rules_see_claimed or owner[i.digest] is rule)]
        for digest in rule.marks(seen, now):
            if owner[digest] is rule:
                expired[digest] = rule.priority
    return expired
