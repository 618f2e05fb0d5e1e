"""The Lambda zip: built twice to the same bytes, unpacked into an empty directory, and its
handler imported and invoked by a fresh ``python -I`` of the runtime's Python version the way
Lambda's Python runtime does (the task root first on sys.path, the handler string split at its
last dot, called with the event and a context object), against the moto server. The zip's
compiled modules are built for that version only (a cp311 wheel does not import on python3.12)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from tests.monitor import samples
from tests.monitor.world import POLICY_NAME, TABLE, World, basic_finding, cfn_template, sqs_event
from tools.monitor_package import PYTHON_VERSION, build

pytestmark = pytest.mark.slow  # installs the locked wheels twice (about 20 s)

BOOTSTRAP = """
import importlib, json, sys
task_root, handler_name = sys.argv[1], sys.argv[2]
sys.path.insert(0, task_root)
module_name, _, function_name = handler_name.rpartition(".")
function = getattr(importlib.import_module(module_name), function_name)
class Context:
    function_name = "scangate-monitor"
    aws_request_id = "test"
    def get_remaining_time_in_millis(self):
        return 60000
result = function(json.load(sys.stdin), Context())
import scangate, boto3, yaml
print(json.dumps({"result": result, "files": [scangate.__file__, boto3.__file__, yaml.__file__]}))
"""


def _runtime_python() -> str | None:
    """An interpreter of the Lambda runtime's Python version: on PATH, else pyenv's (the
    machine's interpreters; a pyenv shim of a version that is not selected refuses to run)."""
    name = f"python{PYTHON_VERSION}"
    pyenv = Path.home() / ".pyenv" / "versions"
    candidates = [shutil.which(name),
                  *sorted(str(p) for p in pyenv.glob(f"{PYTHON_VERSION}.*/bin/{name}"))]
    for candidate in filter(None, candidates):
        probe = subprocess.run([candidate, "-I", "-c", "import sys; print(sys.version_info[:2])"],
                               capture_output=True, text=True, check=False, timeout=60)
        if probe.returncode == 0 and probe.stdout.strip() == str(
                tuple(int(n) for n in PYTHON_VERSION.split("."))):
            return candidate
    return None


def test_zip_is_reproducible_and_its_handler_runs_as_lambda_runs_it(
        world: World, tmp_path: Path) -> None:
    first, second = tmp_path / "a.zip", tmp_path / "b.zip"
    assert build(first) == build(second)
    assert first.read_bytes() == second.read_bytes()
    with zipfile.ZipFile(first) as archive:
        infos = archive.infolist()
        assert [i.filename for i in infos] == sorted(i.filename for i in infos)
        assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}
        assert not [i for i in infos if i.filename.startswith(("bin/", "setuptools/"))]
        compiled = [i.filename for i in infos if i.filename.endswith(".so")]
        tag = f"cpython-{PYTHON_VERSION.replace('.', '')}-x86_64-linux-gnu.so"
        assert compiled and all(n.endswith((tag, ".abi3.so")) for n in compiled), compiled
        task_root = tmp_path / "task"
        task_root.mkdir()
        archive.extractall(task_root)

    digest = world.push("team/app", 1, "1.0")
    world.scan(digest, [basic_finding("CVE-2026-0001", "CRITICAL", "openssl")],
               __import__("datetime").datetime(2026, 3, 1, tzinfo=__import__("datetime").UTC))
    good = json.dumps(samples.retarget(samples.ECR_IMAGE_SCAN, repository="team/app",
                                       digest=digest, event_id="ok"))
    event = sqs_event([good, "not an event"])
    handler = cfn_template()["Resources"]["Function"]["Properties"]["Handler"]
    env = {k: v for k, v in os.environ.items() if k.startswith("AWS_") or k in ("PATH", "HOME")}
    env.update({"SCANGATE_TABLE": TABLE, "SCANGATE_POLICY_PARAMETER": POLICY_NAME,
                "SCANGATE_QUEUE_URL": world.queue_url, "SCANGATE_DLQ_URL": world.dlq_url,
                "SCANGATE_SNS_TOPIC_ARN": world.topic_arn, "LAMBDA_TASK_ROOT": str(task_root)})
    runtime_python = _runtime_python()
    if runtime_python is None:
        pytest.skip(f"no python{PYTHON_VERSION} interpreter on this machine to run the zip "
                    "with (the zip was built and its contents checked)")
    result = subprocess.run([runtime_python, "-I", "-c", BOOTSTRAP, str(task_root), handler],
                            input=json.dumps(event), capture_output=True, text=True,
                            cwd=tmp_path, env=env, check=False, timeout=120)
    assert result.returncode == 0, result.stderr
    output = json.loads(result.stdout.strip().splitlines()[-1])
    assert output["result"] == {"batchItemFailures": []}
    for path in output["files"]:
        assert Path(path).is_relative_to(task_root), path  # imported from the zip only
    [dead] = world.drain(world.dlq_url)
    assert dead["Body"] == "not an event"
    [alert] = world.alerts()
    assert "turned FAIL" in alert["Subject"]
    assert hashlib.sha256(first.read_bytes()).hexdigest()
