"""EventBridge's array matching, taught to the monitor tests' moto server (see sitecustomize).

moto 5.1.4's event-pattern matcher (moto.events.models.EventPattern) walks nested patterns with
``event.get(key)``; it crashes (HTTP 500 from PutEvents) when the event lacks the nested field
or holds an array there, and its ``prefix`` filter calls ``startswith`` on an array. EventBridge
documents the behaviour the monitor's rules rely on
(https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-event-patterns.html, "Matching
values in arrays" and eb-event-patterns-arrays.html):
- a field missing from the event does not match;
- when the event holds an array, the pattern matches if any element matches (for an array of
  objects, each object is tried against the nested pattern).
This module adds exactly that to moto's matcher; the comparisons themselves stay moto's.
tests/monitor/test_rules.py also checks the correction on its own (a non-matching array).
"""

from __future__ import annotations

from typing import Any

from moto.events import models

_original_match = models.EventPattern._does_event_match
_original_filters = models.EventPattern._does_item_match_filters


def _does_event_match(self: Any, event: Any, pattern: dict[str, Any]) -> bool:
    if isinstance(event, list):
        return any(_does_event_match(self, item, pattern) for item in event)
    if not isinstance(event, dict):
        return False  # a missing field (moto's UNDEFINED) or a scalar under a nested pattern
    return bool(_original_match(self, event, pattern))


def _does_item_match_filters(self: Any, item: Any, filters: Any) -> bool:
    if isinstance(item, list):
        return any(_original_filters(self, element, filters) for element in item)
    return bool(_original_filters(self, item, filters))


def install() -> None:
    models.EventPattern._does_event_match = _does_event_match  # type: ignore[method-assign]
    models.EventPattern._does_item_match_filters = _does_item_match_filters  # type: ignore[method-assign]
