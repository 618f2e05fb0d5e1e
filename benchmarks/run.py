"""Speed and memory of ``scangate gate`` against ``trivy convert --format sarif``.

Generates a realistic Trivy JSON report (20,000 vulnerabilities, each with its own id so SARIF has
one rule per finding, the worst case; about 80 MB: long descriptions, many references, CVSS from
several vendors), then runs, in turns:

- scangate: ``scangate gate`` writing SARIF + GitLab + JSON summary + Markdown summary;
- trivy: ``trivy convert --format sarif`` of the same file (SARIF alone).

Each command runs as its own process; wall time is measured around it and peak memory is the
child's max RSS (``getrusage(RUSAGE_CHILDREN)`` after each run, in a fresh measuring process).

    .venv/bin/python benchmarks/run.py [--shape 1x20000|50x400 ...] [--rounds 5]

Targets (benchmarks/README.md), on every shape: scangate at most 0.4x trivy convert's time;
peak memory at most 2x the report's size.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"


def _words(rng: random.Random, count: int) -> str:
    vocab = ("buffer overflow heap memory remote attacker crafted request allows denial service "
             "execution arbitrary code privilege escalation parsing input validation library "
             "function pointer dereference use-after-free integer signed bounds check").split()
    return " ".join(rng.choice(vocab) for _ in range(count))


def make_report(vulns: int, seed: int = 7, targets: int = 1) -> dict[str, Any]:
    """``vulns`` findings in total, spread over ``targets`` results (each its own image layer
    path and package set), every finding with its own id."""
    rng = random.Random(seed)
    packages = [f"pkg{n}" for n in range(600)]
    severities = ["CRITICAL", "HIGH", "MEDIUM", "LOW", "UNKNOWN"]
    rows = []
    for n in range(vulns):
        # A distinct id per row: one SARIF rule per finding, the writer's worst case (every
        # result also builds, meters and stores a rule with its Markdown help).
        cve = f"CVE-20{rng.randint(10, 25)}-{100000 + n}"
        pkg = rng.choice(packages)
        sev = rng.choices(severities, weights=[3, 15, 40, 35, 7])[0]
        fixed = f"1.{n % 9}.{n % 7}-1" if rng.random() < 0.7 else ""
        row: dict[str, Any] = {
            "VulnerabilityID": cve,
            "PkgID": f"{pkg}@1.0.{n % 13}-1",
            "PkgName": pkg,
            "PkgIdentifier": {
                "PURL": f"pkg:deb/debian/{pkg}@1.0.{n % 13}-1?arch=amd64&distro=debian-12",
                "UID": f"{n:016x}",
            },
            "InstalledVersion": f"1.0.{n % 13}-1",
            "Status": "fixed" if fixed else "affected",
            "Layer": {"Digest": f"sha256:{n:064x}", "DiffID": f"sha256:{n + 1:064x}"},
            "SeveritySource": "nvd",
            "PrimaryURL": f"https://avd.aquasec.com/nvd/{cve.lower()}",
            "DataSource": {"ID": "debian", "Name": "Debian Security Tracker",
                           "URL": "https://salsa.debian.org/security-tracker-team/security-tracker"},
            "Title": f"{pkg}: {_words(rng, 8)}",
            "Description": _words(rng, 180),
            "Severity": sev,
            "CweIDs": [f"CWE-{rng.randint(20, 900)}"],
            "VendorSeverity": {"debian": rng.randint(1, 4), "nvd": rng.randint(1, 4),
                               "redhat": rng.randint(1, 4), "ubuntu": rng.randint(1, 4)},
            "CVSS": {"nvd": {"V3Vector": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
                             "V3Score": round(rng.uniform(1, 10), 1)},
                     "redhat": {"V3Vector": "CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:L/I:L/A:N",
                                "V3Score": round(rng.uniform(1, 10), 1)}},
            "References": [
                f"https://security.example.org/{cve}/{k}/{_words(rng, 2).replace(' ', '-')}"
                for k in range(14)
            ],
            "PublishedDate": "2023-03-01T12:15:00Z",
            "LastModifiedDate": "2024-06-10T08:00:00Z",
        }
        if fixed:
            row["FixedVersion"] = fixed
        rows.append(row)
    return {
        "SchemaVersion": 2,
        "CreatedAt": "2026-11-23T10:00:00Z",
        "ArtifactName": "registry.example/bench/app:1.0",
        "ArtifactType": "container_image",
        "Metadata": {"OS": {"Family": "debian", "Name": "12.5"},
                     "RepoTags": ["registry.example/bench/app:1.0"],
                     "ImageID": "sha256:" + "b" * 64},
        "Results": _results(rows, targets),
    }


def _results(rows: list[dict[str, Any]], targets: int) -> list[dict[str, Any]]:
    if targets == 1:
        return [{"Target": "registry.example/bench/app:1.0 (debian 12.5)", "Class": "os-pkgs",
                 "Type": "debian", "Vulnerabilities": rows}]
    per = -(-len(rows) // targets)
    return [{"Target": f"opt/app{t}/requirements.txt", "Class": "lang-pkgs", "Type": "pip",
             "Vulnerabilities": rows[t * per:(t + 1) * per]} for t in range(targets)]


MEASURE = r"""
import resource, subprocess, sys, time
start = time.perf_counter()
code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode
wall = time.perf_counter() - start
rss_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(f"{wall} {rss_kib} {code}")
"""


def measure(cmd: list[str]) -> tuple[float, float, int]:
    """Run cmd in a fresh process; return (wall seconds, peak RSS MiB, exit code)."""
    out = subprocess.run([sys.executable, "-c", MEASURE, *cmd], capture_output=True, text=True,
                         check=True).stdout.split()
    return float(out[0]), int(out[1]) / 1024, int(out[2])


def tool(name: str) -> str:
    beside = Path(sys.executable).with_name(name)
    found = str(beside) if beside.exists() else shutil.which(name)
    if not found:
        raise SystemExit(f"{name} not found: run `make setup`")
    return found


# Every shape the benchmark measures: (name, targets, findings per target). "1x20000": one
# Debian image with 20,000 findings; "50x400": 50 targets of 400 findings each (69 MiB), where
# a report's many small results used to cost the SARIF writer most.
SHAPES = {"1x20000": (1, 20_000), "50x400": (50, 400)}
TIME_TARGET = 0.4  # at most this fraction of trivy convert's time
MEMORY_TARGET = 2.0  # peak RSS at most this multiple of the report's size


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--shape", choices=sorted(SHAPES), action="append",
                        help="a shape to measure (repeatable; default: every shape)")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    OUT.mkdir(exist_ok=True)
    missed = 0
    for shape in args.shape or list(SHAPES):
        missed += _measure_shape(shape, args.rounds)
    return 1 if missed else 0


def _measure_shape(shape: str, rounds: int) -> int:
    targets, per_target = SHAPES[shape]
    vulns = targets * per_target
    report = OUT / f"trivy-{shape}-unique.json"
    if not report.exists():
        report.write_text(json.dumps(make_report(vulns, targets=targets), indent=2),
                          encoding="utf-8")
    size_mib = report.stat().st_size / 2**20
    scangate = [tool("scangate"), "gate", "--quiet", "--report", str(report),
                "--max-critical", "1000000",
                "--sarif", str(OUT / "scangate.sarif"), "--sarif-overflow", "keep-most-severe",
                "--gitlab-report", str(OUT / "gl.json"),
                "--json-summary", str(OUT / "summary.json"),
                "--summary-md", str(OUT / "summary.md")]
    trivy = [tool("trivy"), "convert", "--quiet", "--format", "sarif",
             "--output", str(OUT / "trivy.sarif"), str(report)]
    runs: dict[str, list[tuple[float, float]]] = {"scangate": [], "trivy": []}
    for _ in range(rounds):
        for name, cmd in (("scangate", scangate), ("trivy", trivy)):
            wall, rss, code = measure(cmd)
            if code != 0:
                raise SystemExit(f"{name} exited {code}")
            runs[name].append((wall, rss))
    med = {name: statistics.median(w for w, _ in values) for name, values in runs.items()}
    peak = {name: max(r for _, r in values) for name, values in runs.items()}
    ratio = med["scangate"] / med["trivy"]
    mem_ratio = peak["scangate"] / size_mib
    print(f"shape {shape}: {report.name}, {targets} target(s) x {per_target} = {vulns} "
          f"vulnerabilities, {size_mib:.1f} MiB; {rounds} rounds in turns")
    for name in ("scangate", "trivy"):
        walls = ", ".join(f"{w:.2f}" for w, _ in runs[name])
        print(f"  {name:9} median {med[name]:.2f} s (runs: {walls}); peak RSS "
              f"{peak[name]:.0f} MiB")
    time_ok, memory_ok = ratio <= TIME_TARGET, mem_ratio <= MEMORY_TARGET
    print(f"  scangate/trivy time: {ratio:.2f}x (target <= {TIME_TARGET}x)  "
          f"{'OK' if time_ok else 'MISSED'}")
    print(f"  scangate peak memory / report size: {mem_ratio:.2f}x (target <= "
          f"{MEMORY_TARGET}x)  {'OK' if memory_ok else 'MISSED'}")
    sizes = {p.name: p.stat().st_size / 2**20 for p in OUT.iterdir() if p.suffix in
             (".sarif", ".json", ".md") and not p.name.startswith("trivy-")}
    print("  outputs (MiB): " + ", ".join(f"{k} {v:.1f}" for k, v in sorted(sizes.items())))
    return 0 if time_ok and memory_ok else 1


if __name__ == "__main__":
    sys.exit(main())
