"""The policy reference table, from the policy JSON Schema shipped in the package."""

from __future__ import annotations

import json
from pathlib import Path

from tools.gendocs import REPO_ROOT, markdown_table

SCHEMA = REPO_ROOT / "scripts" / "scangate" / "schemas" / "policy.schema.json"


def render() -> dict[str, str]:
    schema = json.loads(Path(SCHEMA).read_text(encoding="utf-8"))
    rows = []
    required = set(schema.get("required", []))
    for key, spec in schema["properties"].items():
        kind = spec.get("type") or ("const " + json.dumps(spec["const"]) if "const" in spec else "")
        if "default" in spec:
            default = json.dumps(spec["default"])
        else:
            default = "required" if key in required else ""
        rows.append([f"`{key}`", str(kind), default, spec.get("description", "")])
    waiver = schema["properties"]["waivers"]["items"]
    for key, spec in waiver["properties"].items():
        need = "required" if key in waiver.get("required", []) else "optional"
        rows.append([f"`waivers[].{key}`", spec.get("type", ""), need, spec.get("description", "")])
    return {"policy-reference": markdown_table(["key", "type", "default", "meaning"], rows)}
