"""actions/gate's risk-feed inputs: its Gate step (`scangate gate-job run`) passes `feeds-dir`
to the gate, and `fetch-feeds`
runs `scangate feeds fetch --max-cache-age 24` first (a fresh cached copy, as the action's cache
step restores it, is kept without a download), never letting a failed fetch pass a policy that
rules on the feeds."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

from scangate.feeds import EPSS_FILE, KEV_FILE

from tests.github.test_workflow_steps import (
    GATE_ACTION,
    SCANGATE,
    Step,
    action_script,
    run_script,
)
from tests.support.feeds import kev_entry, now, write_epss, write_kev
from tests.support.reports import image_report, vuln, write

POLICY = "version: 1\nthresholds: {critical: 0}\nkev: fail\n"


def gate_step(tmp_path: Path, **inputs: str) -> Step:
    env = {"SCANGATE": SCANGATE, "PYTHONPATH": os.environ.get("PYTHONPATH", ""),
           **{f"INPUT_{k.upper()}": v for k, v in inputs.items()}}
    return run_script(action_script(GATE_ACTION, "Gate"), env, tmp_path)


def setup(tmp_path: Path) -> tuple[str, str, Path]:
    report = write(tmp_path / "r.json", image_report([vuln("CVE-2016-2781", severity="LOW")]))
    (tmp_path / "policy.yaml").write_text(POLICY, encoding="utf-8")
    feeds = tmp_path / "feeds"
    feeds.mkdir()
    write_kev(feeds / KEV_FILE, [kev_entry("CVE-2016-2781")])
    write_epss(feeds / EPSS_FILE, [("CVE-2016-2781", 0.1, 0.5)], gzipped=True)
    return report, str(tmp_path / "policy.yaml"), feeds


def test_feeds_dir_reaches_the_gate(tmp_path: Path) -> None:
    report, policy, feeds = setup(tmp_path)
    step = gate_step(tmp_path / "run", reports=report, policy=policy, feeds_dir=str(feeds))
    assert step.outputs["decision"] == "fail", step.output
    summary = json.loads(Path(step.outputs["summary-json"]).read_text(encoding="utf-8"))
    assert [r["id"] for r in summary["risk_violations"]] == ["CVE-2016-2781"]
    # Without the feeds the same policy is an error, never a pass.
    step = gate_step(tmp_path / "run2", reports=report, policy=policy)
    assert step.outputs["decision"] == "error", step.output


def test_fetch_feeds_keeps_a_fresh_cache_and_a_failed_fetch_cannot_pass(tmp_path: Path) -> None:
    report, policy, feeds = setup(tmp_path)
    (feeds / "fetched-at").write_text((now() - dt.timedelta(hours=1)).isoformat())
    step = gate_step(tmp_path / "run", reports=report, policy=policy, feeds_dir=str(feeds),
                     fetch_feeds="true")
    assert step.outputs.get("feeds-fetched") == "true", step.output
    assert step.outputs["decision"] == "fail", step.output
    step = gate_step(tmp_path / "run2", reports=report, policy=policy, fetch_feeds="maybe")
    assert step.returncode == 2 and "decision" not in step.outputs  # Enforce then fails the job
    assert "fetch-feeds must be true or false" in step.output
