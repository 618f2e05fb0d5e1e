"""CloudWatch metrics in embedded metric format: one JSON line on stdout, which Lambda ships
to CloudWatch Logs and CloudWatch turns into metrics (no PutMetricData call, no extra latency).

Specification: https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/
CloudWatch_Embedded_Metric_Format_Specification.html
"""

from __future__ import annotations

import json
import sys
import time
from typing import IO

NAMESPACE = "Scangate/Monitor"
# At most 100 metrics per EMF directive; these stay far below.
SEVERITY_METRICS = {"critical": "FindingsCritical", "high": "FindingsHigh",
                    "medium": "FindingsMedium", "low": "FindingsLow",
                    "unknown": "FindingsUnknown"}


def emf(dimensions: dict[str, str], values: dict[str, tuple[float, str]],
        properties: dict[str, str] | None = None, *, stream: IO[str] | None = None,
        now_ms: int | None = None) -> dict[str, object]:
    """Write one EMF document; ``values`` maps metric name -> (value, unit)."""
    document: dict[str, object] = {
        "_aws": {
            "Timestamp": now_ms if now_ms is not None else int(time.time() * 1000),
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [sorted(dimensions)],
                "Metrics": [{"Name": name, "Unit": unit}
                            for name, (_value, unit) in sorted(values.items())],
            }],
        },
        **dimensions,
        **{name: value for name, (value, _unit) in values.items()},
        **(properties or {}),
    }
    out = stream or sys.stdout
    out.write(json.dumps(document, sort_keys=True) + "\n")
    out.flush()
    return document


def image_metrics(repository: str, counts: dict[str, int], failing: bool, latency_ms: float,
                  digest: str, *, stream: IO[str] | None = None) -> dict[str, object]:
    values: dict[str, tuple[float, str]] = {
        SEVERITY_METRICS[k]: (float(v), "Count") for k, v in counts.items()
        if k in SEVERITY_METRICS}
    values["ImageFailing"] = (1.0 if failing else 0.0, "Count")
    values["ProcessingLatency"] = (round(latency_ms, 3), "Milliseconds")
    return emf({"Repository": repository}, values, {"ImageDigest": digest}, stream=stream)


def sweep_metrics(deployed: int, failing: int, *,
                  stream: IO[str] | None = None) -> dict[str, object]:
    return emf({"Service": "scangate-monitor"},
               {"DeployedImages": (float(deployed), "Count"),
                "FailingDeployedImages": (float(failing), "Count")}, stream=stream)


def outcome_metric(name: str, *, stream: IO[str] | None = None) -> dict[str, object]:
    """Count of records by outcome (Malformed, WrongRegion, Retried, NotStarted, ImageDeleted,
    ScanUnavailable)."""
    return emf({"Service": "scangate-monitor"}, {name: (1.0, "Count")}, stream=stream)
