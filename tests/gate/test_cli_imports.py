"""``scangate gate`` runs in every pipeline: it must not load what only other subcommands use."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from scangate import __version__

from tests.support.reports import image_report, vuln, write

PROBE = """
import sys
from scangate._cli import main
code = main(sys.argv[1:])
print(code, ",".join(sorted(m for m in ("boto3", "botocore", "requests") if m in sys.modules)))
"""


def test_gate_does_not_import_boto3(tmp_path: Path) -> None:
    report = write(tmp_path / "r.json", image_report([vuln()]))
    out = subprocess.run([sys.executable, "-c", PROBE, "gate", "--quiet", "--report", report,
                          "--sarif", str(tmp_path / "o.sarif")],
                         capture_output=True, text=True, check=True, timeout=120).stdout
    assert out.split() == ["0"], out


def test_every_subcommand_is_still_reachable() -> None:
    out = subprocess.run([sys.executable, "-c", PROBE, "nope"], capture_output=True, text=True,
                         timeout=120, check=False)
    assert out.returncode == 2
    for command in ("gate", "scan", "securityhub", "push", "deploy", "pin-image"):
        assert f"'{command}'" in out.stderr


PARSERS_PROBE = """
import sys
from scangate._cli import build_parser
build_parser(sys.argv[1:])
print(",".join(sorted(m for m in ("boto3", "botocore") if m in sys.modules)))
"""


def test_no_parser_imports_boto3() -> None:
    # `scangate --version` (every install, in every job), --help, and commands that may never
    # call AWS (push to a non-ECR registry, securityhub --asff-only, notify without a topic)
    # build parsers only: boto3 costs about a second of CPU in a fresh virtualenv without .pyc.
    # The full parser (no command named) holds every subcommand's module.
    for argv in ([], ["push"], ["deploy"], ["securityhub"], ["notify"], ["assume-role"]):
        out = subprocess.run([sys.executable, "-c", PARSERS_PROBE, *argv], capture_output=True,
                             text=True, check=True, timeout=120).stdout
        assert out.strip() == "", (argv, out)


def test_version_imports_no_subcommand() -> None:
    probe = ("import sys\nfrom scangate._cli import main\ntry:\n    main(['--version'])\n"
             "except SystemExit as exc:\n    assert exc.code == 0, exc.code\n"
             "print(sorted(m for m in sys.modules if m.startswith('scangate.commands.')))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True, timeout=120)
    assert out.stdout.splitlines() == [f"scangate {__version__}", "[]"], out.stdout
