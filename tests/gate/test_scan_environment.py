"""Exactly which TRIVY_* variables `scangate scan` lets through to Trivy: the registry
credentials, and nothing else, whatever Trivy flag a pipeline variable targets.

Every Trivy flag has an environment variable: "Add TRIVY_ prefix, make it all uppercase, replace
- with _" (https://trivy.dev/latest/docs/configuration/#environment-variables). The list of
flags comes from the real Trivy binary's --help, so a flag added by a Trivy upgrade is covered
without editing this file. A single extra survivor (TRIVY_DB_REPOSITORY pointing Trivy at a
doctored DB, TRIVY_SKIP_DIRS, TRIVY_VEX...) lets a CI variable decide what Trivy reports.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from scangate._cli import main
from scangate.trivy_command import scrubbed_environment

from tests.support.trivy import trivy_binary

# Registry authentication only: whether an image can be pulled, never what is reported on it.
CREDENTIALS = {"TRIVY_USERNAME", "TRIVY_PASSWORD", "TRIVY_REGISTRY_TOKEN"}
_FLAG = re.compile(r"^\s+(?:-[A-Za-z], )?--([a-z0-9][a-z0-9-]*)", re.MULTILINE)


def trivy_variables() -> set[str]:
    """TRIVY_<FLAG> for every flag of `trivy`, `trivy image` and `trivy fs` (real binary)."""
    names: set[str] = set()
    for subcommand in ([], ["image"], ["fs"]):
        proc = subprocess.run([trivy_binary(), *subcommand, "--help"], capture_output=True,
                              text=True, check=True, timeout=60)
        names |= {"TRIVY_" + flag.upper().replace("-", "_") for flag in _FLAG.findall(proc.stdout)}
    return names


@pytest.fixture(scope="module")
def every_variable() -> dict[str, str]:
    names = trivy_variables()
    # The parse found Trivy's flags (a broken regex must not make this test vacuous).
    assert {"TRIVY_DB_REPOSITORY", "TRIVY_JAVA_DB_REPOSITORY", "TRIVY_SEVERITY",
            "TRIVY_SKIP_DIRS", "TRIVY_IGNOREFILE", "TRIVY_CACHE_DIR"} | CREDENTIALS <= names
    assert len(names) > 80
    values = {name: f"value-of-{name.lower()}" for name in names}
    # Not a flag of this version, and spelled in lower case: still Trivy's, still dropped.
    values["TRIVY_SOME_FUTURE_FLAG"] = "x"
    values["trivy_db_repository"] = "evil.example/db"
    return values


def test_every_trivy_variable_but_the_credentials_is_dropped_and_named(
        every_variable: dict[str, str]) -> None:
    env, dropped = scrubbed_environment({"PATH": "/bin", "HOME": "/home/ci", **every_variable})
    assert {k for k in env if k.upper().startswith("TRIVY_")} == CREDENTIALS
    assert {k: env[k] for k in CREDENTIALS} == {k: every_variable[k] for k in CREDENTIALS}
    assert env["PATH"] == "/bin" and env["HOME"] == "/home/ci"  # the rest is left alone
    assert dropped == sorted(set(every_variable) - CREDENTIALS)


def test_trivy_sees_only_the_credentials_and_the_user_is_told_what_was_ignored(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, every_variable: dict[str, str],
        capsys: pytest.CaptureFixture[str], trivy_cache_dir: Path, trivy_db_digest: str,
) -> None:
    """Through `scangate scan`, seen from inside the child. A stand-in for Trivy (a script
    recording its environment) because the real binary cannot report what it was given."""
    record = tmp_path / "env.json"
    fake = tmp_path / "trivy"
    fake.write_text(
        f"#!{sys.executable}\n"
        "import json, os, sys\n"
        "out = sys.argv[sys.argv.index('--output') + 1]\n"
        f"json.dump({{k: v for k, v in os.environ.items() if k.upper().startswith('TRIVY_')}},\n"
        f"          open({str(record)!r}, 'w'))\n"
        "json.dump({'SchemaVersion': 2, 'ArtifactName': 'x', 'ArtifactType': 'filesystem',\n"
        "           'Results': []}, open(out, 'w'))\n")
    fake.chmod(0o755)
    project = tmp_path / "project"
    project.mkdir()
    for name, value in every_variable.items():
        monkeypatch.setenv(name, value)
    capsys.readouterr()
    assert main(["scan", "--fs", str(project), "--output", str(tmp_path / "r.json"),
                 "--trivy", str(fake), "--cache-dir", str(trivy_cache_dir), "--db-digest",
                 trivy_db_digest]) == 0
    assert json.loads(record.read_text()) == {k: every_variable[k] for k in CREDENTIALS}
    err = capsys.readouterr().err
    [notice] = [line for line in err.splitlines() if "from the environment" in line]
    named = set(re.findall(r"\b[Tt][Rr][Ii][Vv][Yy]_[A-Za-z0-9_]+", notice))
    assert named == set(every_variable) - CREDENTIALS
