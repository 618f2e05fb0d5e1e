"""What github/codeql-action/upload-sarif refuses, checked before the stand-in "uploads".

Test double support (act). Each rule is the real upload's (see ../shared/notes/platform-rules.md
and platform-limits.md): the repository must have Code Security (SCANGATE_STANDIN_CODE_SECURITY
=disabled makes the upload fail as a private repository without it does, and a fork's
read-only token does: SCANGATE_STANDIN_TOKEN=read-only); the file is SARIF 2.1.0 and valid
against the schema the action bundles (SCANGATE_STANDIN_SARIF_SCHEMA, when the test has it;
`uri`/`uri-reference` format errors are only warnings there, as in upload-lib.ts); no two runs
share a tool and category in one file; a category is uploaded at most once per job; at most
10 MB gzip-compressed, 20 runs, 25,000 results and 25,000 rules per run.

Usage: python validate.py SARIF JOB STATE_DIR  (exit 0: accepted; 1: refused, one line why)
"""

from __future__ import annotations

import gzip
import json
import os
import sys
from pathlib import Path


def refuse(message: str) -> None:
    print(f"::error::{message}")
    sys.exit(1)


def main(path: str, job: str, state: str) -> None:
    if os.environ.get("SCANGATE_STANDIN_CODE_SECURITY") == "disabled":
        refuse("Code Security must be enabled for this repository to use code scanning.")
    if os.environ.get("SCANGATE_STANDIN_TOKEN") == "read-only":
        refuse("Resource not accessible by integration (the token has no security-events: write)")
    data = Path(path).read_bytes()
    if len(gzip.compress(data)) > 10 * 1024 * 1024:
        refuse(f"{path}: larger than 10 MB gzip-compressed")
    try:
        sarif = json.loads(data)
    except ValueError as exc:
        refuse(f"{path}: invalid JSON: {exc}")
    if sarif.get("version") != "2.1.0":
        refuse(f"{path}: version is {sarif.get('version')!r}, not 2.1.0")
    schema_path = os.environ.get("SCANGATE_STANDIN_SARIF_SCHEMA", "")
    if schema_path:
        import jsonschema

        validator = jsonschema.Draft4Validator(json.loads(Path(schema_path).read_text()))
        errors = [e for e in validator.iter_errors(sarif)
                  if e.validator != "format"]  # format errors only warn in upload-lib.ts
        if errors:
            refuse(f"{path}: invalid SARIF: {errors[0].message} at {list(errors[0].path)}")
    runs = sarif.get("runs") or []
    if len(runs) > 20:
        refuse(f"{path}: {len(runs)} runs, at most 20")
    seen: set[tuple[str, str]] = set()
    for run in runs:
        tool = str(run.get("tool", {}).get("driver", {}).get("name", ""))
        category = str((run.get("automationDetails") or {}).get("id", ""))
        if (tool, category) in seen:
            refuse(f"{path}: two runs with tool {tool!r} and category {category!r}")
        seen.add((tool, category))
        if len(run.get("results") or []) > 25000:
            refuse(f"{path}: more than 25,000 results in a run")
        if len(run.get("tool", {}).get("driver", {}).get("rules") or []) > 25000:
            refuse(f"{path}: more than 25,000 rules in a run")
    uploaded = Path(state) / "sarif-categories.jsonl"
    previous = set()
    if uploaded.exists():
        for line in uploaded.read_text().splitlines():
            record = json.loads(line)
            if record["job"] == job:
                previous.add((record["tool"], record["category"]))
    again = seen & previous
    if again:
        refuse(f"this job uploaded tool/category {sorted(again)[0]} already")
    with uploaded.open("a") as handle:
        for tool, category in sorted(seen):
            handle.write(json.dumps({"job": job, "tool": tool, "category": category}) + "\n")


if __name__ == "__main__":
    main(*sys.argv[1:4])
