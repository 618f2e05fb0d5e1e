"""`make demo` end to end on this machine: both variants through the real pipeline.

Each variant runs `python -m tools.demo` as a subprocess, exactly as the Makefile does, with a
reports directory and a registry repository of its own, so reruns and parallel runs never see
each other's results. What the demo claims (decision, digest, pinned manifest) is checked
against the peers themselves: the registry's HTTP API, the reports, the rendered YAML.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support import docker as docker_support
from tests.support.schemas import require_gitlab_validator, require_sarif_validator, schema_errors

pytestmark = [pytest.mark.docker, pytest.mark.slow]

REPO_ROOT = Path(__file__).resolve().parents[1]
MANIFEST_ACCEPT = (
    "application/vnd.docker.distribution.manifest.v2+json, "
    "application/vnd.oci.image.manifest.v1+json"
)


@dataclass(frozen=True)
class DemoRun:
    code: int
    output: str
    reports: Path
    repository: str
    tag: str
    seconds: float

    @property
    def record(self) -> dict[str, Any]:
        return self.report("demo.json")

    def report(self, name: str) -> dict[str, Any]:
        doc: dict[str, Any] = json.loads((self.reports / name).read_text())
        return doc


def _manifest(repository: str, reference: str) -> tuple[int, bytes, str]:
    url = f"{docker_support.REGISTRY_URL}/v2/{repository}/manifests/{reference}"
    request = urllib.request.Request(url, headers={"Accept": MANIFEST_ACCEPT})
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            return resp.status, resp.read(), resp.headers.get("Docker-Content-Digest", "")
    except urllib.error.HTTPError as exc:
        return exc.code, b"", ""


def _delete_manifest(repository: str, digest: str) -> None:
    url = f"{docker_support.REGISTRY_URL}/v2/{repository}/manifests/{digest}"
    try:
        urllib.request.urlopen(urllib.request.Request(url, method="DELETE"), timeout=30).close()
    except OSError:
        pass  # cleanup only: the registry is shared, a leftover tag is harmless


def _run_demo(tmp_path: Path, *flags: str, repository: str, tag: str,
              env: dict[str, str] | None = None) -> DemoRun:
    reports = tmp_path / "reports"
    cmd = [sys.executable, "-m", "tools.demo", *flags, "--reports-dir", str(reports),
           "--repository", repository, "--tag", tag]
    started = time.monotonic()
    proc = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, timeout=1800,
                          env=env)
    seconds = time.monotonic() - started
    output = proc.stdout + proc.stderr
    print(f"\n$ {' '.join(cmd)}  ({seconds:.0f}s, exit {proc.returncode})\n{output}")
    return DemoRun(proc.returncode, output, reports, repository, tag, seconds)


@pytest.fixture(scope="module")
def demo_runs(registry: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[
        dict[str, DemoRun]]:
    """Both variants, once per module; afterwards their tags leave the registry and Docker."""
    suffix = uuid.uuid4().hex[:10]
    # The vulnerable run also carries what an attacker sets as pipeline variables to hide its
    # CRITICAL from Trivy (an ignore file naming it, a severity filter): the demo's scan step
    # (`scangate scan`) must leave them out, so the gate still stops the release.
    ignorefile = tmp_path_factory.mktemp("hostile") / ".trivyignore"
    ignorefile.write_text("CVE-2020-14343\n")
    hostile = {**os.environ, "TRIVY_IGNOREFILE": str(ignorefile), "TRIVY_SEVERITY": "LOW",
               "TRIVY_IGNORE_UNFIXED": "true"}
    # The two runs at once: each has its own work directory, reports, repository and moto, and
    # they wait on Docker, Trivy and pip more than they compute (the fixture's time halves).
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        started = {
            variant: pool.submit(
                _run_demo, tmp_path_factory.mktemp(variant), *flags,
                repository=f"scangate-tests/demo-{variant}-{suffix}", tag=f"t-{suffix}", env=env,
            )
            for variant, flags, env in (("clean", (), None),
                                        ("vulnerable", ("--vulnerable",), hostile))
        }  # fmt: skip
        runs = {variant: future.result() for variant, future in started.items()}
    yield runs
    for run in runs.values():
        status, _, digest = _manifest(run.repository, run.tag)
        if status == 200 and digest:
            _delete_manifest(run.repository, digest)
        docker_support.remove_image(f"{registry}/{run.repository}:{run.tag}")


def test_clean_variant_passes_pushes_the_scanned_image_and_pins_it(
    demo_runs: dict[str, DemoRun], registry: str
) -> None:
    run = demo_runs["clean"]
    assert run.code == 0, run.output[-4000:]
    record = run.record
    assert record["decision"] == "pass" and record["exit_code"] == 0
    assert "PASS" in run.output

    # The registry holds the tag, its manifest hashes to the digest the demo reported, and its
    # config is the image Trivy scanned.
    status, body, header_digest = _manifest(run.repository, run.tag)
    assert status == 200
    digest = "sha256:" + hashlib.sha256(body).hexdigest()
    assert digest == header_digest == record["digest"]
    image_id = run.report("trivy-image.json")["Metadata"]["ImageID"]
    assert json.loads(body)["config"]["digest"] == image_id == record["image_id"]
    assert record["pushed"] == f"{registry}/{run.repository}@{digest}"
    # push.json is what `scangate push` (the pipelines' push step) writes, not a demo's own.
    pushed = run.report("push.json")
    assert pushed["image-digest"] == digest and pushed["image-id"] == image_id
    assert pushed["scangate-version"] and pushed["tags"] == [run.tag]

    # The rendered Deployment runs exactly that image, by digest.
    deployment = yaml.safe_load((run.reports / "k8s" / "deployment.yaml").read_text())
    images = [c["image"] for c in deployment["spec"]["template"]["spec"]["containers"]]
    assert images == [f"{registry}/{run.repository}@{digest}"]

    summary = run.report("summary.json")
    assert summary["decision"] == "pass"
    assert summary["counts"]["critical"] == 0 and summary["counts"]["high"] == 0
    for name in ("scangate.sarif", "gl-container-scanning-report.json", "summary.md"):
        assert (run.reports / name).stat().st_size > 0, name
    # Findings went to Security Hub (moto) as well: the clean image has LOW/MEDIUM OS findings.
    assert record["securityhub_imported"] == summary["findings_total"] > 0
    assert [s["status"] for s in record["steps"]] == ["ok"] * 9
    # The monitoring step: the pushed digest, rescanned with a new CRITICAL, turned FAIL once.
    assert record["monitor"]["digest"] == digest
    assert record["monitor"]["decision_before"] == "pass"
    assert record["monitor"]["decision_after"] == "fail"
    assert len(record["monitor"]["alerts"]) == 1 and record["monitor"]["dead_letters"] == 0
    # Security Hub and the monitoring stack shared one moto server: one started in the log.
    moto_log = (run.reports / "logs" / "moto.log").read_text(errors="replace")
    assert len(re.findall(r"Running on http://127\.0\.0\.1:\d+", moto_log)) == 1
    assert [p.name for p in (run.reports / "logs").glob("moto*")] == ["moto.log"]


def test_vulnerable_variant_is_stopped_at_the_gate_and_pushes_nothing(
    demo_runs: dict[str, DemoRun], registry: str
) -> None:
    run = demo_runs["vulnerable"]
    assert run.code == 1, run.output[-4000:]
    record = run.record
    assert record["decision"] == "fail" and record["exit_code"] == 1
    assert record["pushed"] is None and record["digest"] is None
    assert "nothing was pushed" in run.output

    summary = run.report("summary.json")
    assert summary["decision"] == "fail"
    assert summary["counts"]["critical"] >= 1
    assert {"severity": "critical", "count": summary["counts"]["critical"], "limit": 0} in (
        summary["violations"]
    )
    sarif_rules = {r["ruleId"] for r in run.report("scangate.sarif")["runs"][0]["results"]}
    assert "CVE-2020-14343" in sarif_rules  # PyYAML 5.3.1, CRITICAL

    # Nothing reached the registry, no manifest was rendered, and the refused image lost its
    # registry-named local tag.
    assert _manifest(run.repository, run.tag)[0] == 404
    assert not (run.reports / "k8s").exists()
    assert record["manifests"] == []
    assert not docker_support.image_exists(f"{registry}/{run.repository}:{run.tag}")
    # Findings of a stopped release are imported too: they are the ones to fix.
    assert record["securityhub_imported"] == summary["findings_total"]
    assert record["securityhub_by_severity"]["CRITICAL"] >= 1
    assert [s["status"] for s in record["steps"]][-3:] == ["skipped"] * 3
    assert record["monitor"] is None


def test_a_pushed_tag_is_never_overwritten(
    demo_runs: dict[str, DemoRun], tmp_path: Path
) -> None:
    """Tags are immutable (as in ECR): rerunning with a pushed tag stops before building."""
    clean = demo_runs["clean"]
    assert clean.code == 0
    run = _run_demo(tmp_path, repository=clean.repository, tag=clean.tag)
    assert run.code == 2
    assert "already exists and tags are immutable" in run.output
    assert run.record["image_id"] is None  # nothing was built
    assert run.seconds < 60


@pytest.mark.parametrize("variant", ["clean", "vulnerable"])
@pytest.mark.parametrize(("name", "require"), [
    ("scangate.sarif", require_sarif_validator),
    ("gl-container-scanning-report.json", require_gitlab_validator),
])
def test_demo_outputs_validate_against_the_platform_schemas(
    demo_runs: dict[str, DemoRun], variant: str, name: str, require: Callable[[], Any],
) -> None:
    """Skips, saying why, where ../shared's schemas are absent (a user's clone)."""
    validator = require()
    assert not schema_errors(validator, demo_runs[variant].report(name)), name
