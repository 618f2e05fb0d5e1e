"""Every caller of `scangate scan` outside GitHub's and GitLab's templates names how the
vulnerability DB is verified (issue 21 §2): the CodeBuild buildspec, ci.yml's self-test and the
demo. `scangate scan` refuses a scan with neither `--db-digest` nor `--fresh-db` (tested in
tests/gate/test_trivy_db.py); here each caller's command is checked to carry one, and to parse
with scangate's own CLI (`scangate._cli.build_parser`), so a renamed flag fails here.

The workflow's own scan step is tested in tests/github/test_workflow_steps.py, the GitLab
template's in tests/gitlab/.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from scangate._cli import build_parser

REPO = Path(__file__).resolve().parents[1]
BUILDSPEC = REPO / "templates" / "codebuild" / "buildspec.yml"
CI = REPO / ".github" / "workflows" / "ci.yml"
PIN = "sha256:" + "cd" * 32


def _parsed(argv: list[str]) -> Any:
    return build_parser(argv).parse_args(argv)


def _recording_scangate(bin_dir: Path) -> Path:
    """A stand-in for the `scangate` executable that records its argv (one JSON list a line):
    only the caller's command line is under test here; `scangate scan` itself runs the real
    Trivy in tests/gate."""
    bin_dir.mkdir(parents=True)
    calls = bin_dir / "calls.jsonl"
    script = bin_dir / "scangate"
    script.write_text("#!/usr/bin/env python3\nimport json, sys\n"
                      f"open({str(calls)!r}, 'a').write(json.dumps(sys.argv[1:]) + '\\n')\n")
    script.chmod(0o755)
    return calls


@pytest.mark.parametrize("pin", ["", PIN])
def test_the_buildspec_scans_with_the_pinned_db_or_a_fresh_download(
    tmp_path: Path, pin: str
) -> None:
    """CodeBuild keeps no cache here, but a custom build image may carry a DB: it is used only
    when SCANGATE_TRIVY_DB_DIGEST pins it; otherwise every build downloads the DB afresh."""
    spec = yaml.safe_load(BUILDSPEC.read_text(encoding="utf-8"))
    [command] = [c for c in spec["phases"]["build"]["commands"] if '"$SCANGATE" scan ' in c]
    calls = _recording_scangate(tmp_path / "bin")
    env = {"PATH": os.environ["PATH"], "SCANGATE": str(tmp_path / "bin" / "scangate"),
           "SCANGATE_OUT": str(tmp_path / "out"), "SCANGATE_TRIVY": "/opt/trivy",
           "SCANGATE_SCAN_FLAGS": "--timeout 15m"}  # fmt: skip
    if pin:
        env["SCANGATE_TRIVY_DB_DIGEST"] = pin
    done = subprocess.run(["bash", "-c", command], env=env, capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0, done.stderr
    (call,) = [json.loads(line) for line in calls.read_text().splitlines()]
    args = _parsed(call)
    assert (args.db_digest, args.fresh_db) == ((pin, False) if pin else (None, True))
    assert args.timeout == "15m"  # SCANGATE_SCAN_FLAGS still reach it


def test_the_self_test_downloads_the_db_it_scans_with() -> None:
    """ci.yml's self-test scan restores no DB cache: it downloads the DB (--fresh-db)."""
    jobs = yaml.safe_load(CI.read_text(encoding="utf-8"))["jobs"]
    runs = [step["run"] for job in jobs.values() for step in job.get("steps", [])
            if '"$SCANGATE" scan ' in str(step.get("run", ""))]
    assert runs, "ci.yml no longer runs scangate scan"
    for run in runs:
        line = run.split('"$SCANGATE" ', 1)[1].replace("\\\n", " ")
        argv = [word.strip('"') for word in line.split()]
        assert _parsed(argv).fresh_db, run


def test_the_demo_pins_its_offline_db_and_downloads_online(tmp_path: Path) -> None:
    from tools.demo import pipeline

    demo = pipeline.Demo(options=None, runner=None, work_dir=tmp_path)  # type: ignore[arg-type]
    demo.db_digest = PIN
    offline = pipeline.scan_command(demo, "--fs", str(tmp_path), output=tmp_path / "r.json",
                                    scanners="vuln")
    args = _parsed(offline[1:])
    assert (args.db_digest, args.fresh_db, args.skip_db_update) == (PIN, False, True)
    demo.online = True
    online = pipeline.scan_command(demo, "--fs", str(tmp_path), output=tmp_path / "r.json",
                                   scanners="vuln")
    args = _parsed(online[1:])
    assert (args.db_digest, args.fresh_db) == (None, True)
