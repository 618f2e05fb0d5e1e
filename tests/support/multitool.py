"""SARIF Multitool (Microsoft's SARIF SDK validator, npm ``@microsoft/sarif-multitool``) as a
real consumer of our SARIF: its SARIF1xxx rules are errors, SARIF2xxx warnings.

The npm ``bin`` wrapper passes arguments through a shell unquoted (``Error;Warning`` would
break), so the self-contained linux binary is called directly.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MULTITOOL = (ROOT / ".tools" / "node" / "node_modules" / "@microsoft" / "sarif-multitool-linux"
             / "Sarif.Multitool")


def available() -> bool:
    return MULTITOOL.is_file()


def validate(files: list[Path], log: Path) -> dict[str, list[str]]:
    """Validate ``files`` in one run; return, per file name, its errors and warnings."""
    proc = subprocess.run(
        [str(MULTITOOL), "validate", "--level", "Error;Warning", "--log", "ForceOverwrite",
         "-o", str(log), *map(str, files)],
        capture_output=True, text=True, timeout=600, check=False)
    if proc.returncode != 0 or not log.is_file():
        raise RuntimeError(f"Sarif.Multitool failed ({proc.returncode}): "
                           f"{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    found: dict[str, list[str]] = {file.name: [] for file in files}
    doc = json.loads(log.read_text(encoding="utf-8-sig"))
    for run in doc.get("runs", []):
        for result in run.get("results", []):
            uri = result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
            message = result.get("message", {})
            found.setdefault(uri.rsplit("/", 1)[-1], []).append(
                f"{result.get('level')} {result.get('ruleId')} {message.get('id', '')}: "
                f"{message.get('arguments') or message.get('text', '')}")
        for notification in (run.get("invocations") or [{}])[0].get(
                "toolExecutionNotifications", []):
            if notification.get("level") == "error":
                raise RuntimeError(f"Sarif.Multitool: {notification.get('message')}")
    return found
