"""The real linters on templates/: cfn-lint, trivy config, checkov, terraform fmt and validate.

Accepted findings are suppressed in place, next to what they are about, with a reason (checkov
skip metadata/annotations/comments, trivy:ignore comments); the tests check there is a reason.
Trivy's inline ignores do not work in Kubernetes YAML, so its one accepted MEDIUM finding there
is listed here (ACCEPTED_TRIVY) with the reason written in the manifest.
Checkov's open-source output carries no severities, so every failed check counts.
Each scanner also gets a negative control: the same check fails on a weakened copy.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.templates.conftest import (
    CFN_TEMPLATE,
    K8S,
    TEMPLATES,
    TERRAFORM,
    checkov_binary,
    venv_tool,
)

TRIVY_DIRECTORIES = ("aws", "terraform", "k8s", "codebuild")  # under templates/
ACCEPTED_TRIVY = {
    # (target, ID): the deploy role's one job is to roll out the Deployment (named, no create).
    ("platform/deployer-rbac.yaml", "KSV-0048"),
}


def _trivy(tree: Path, cache: Path) -> dict[str, list[tuple[str, str, str]]]:
    """One `trivy config` run over ``tree``: its failed checks as (target, ID, severity), by
    the top directory of ``tree`` each lies in, the target named relative to that directory
    (as a run over that directory alone names it). Trivy's start-up (compiling its checks) is
    most of a run's cost; every file is checked on its own, a Terraform module as a whole."""
    result = subprocess.run(
        [
            venv_tool("trivy"),
            "config",
            "--quiet",
            "--skip-check-update",
            "--cache-dir",
            str(cache),
            "--format",
            "json",
            str(tree),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    findings: dict[str, list[tuple[str, str, str]]] = {}
    for target in report.get("Results") or []:
        top, _, rest = str(target["Target"]).partition("/")
        for item in target.get("Misconfigurations") or []:
            if item["Status"] == "FAIL":
                findings.setdefault(top, []).append((rest or ".", item["ID"], item["Severity"]))
    return findings


def _checkov(scans: list[tuple[Path, str]]) -> list[dict[str, Any]]:
    """One checkov run over every (directory, framework) given; the results of each, in order.

    checkov's start-up is most of a run's cost, so the scans share one run: it prints one JSON
    document per directory (a report, or a list of one per framework), and each check names
    its file absolutely (file_abs_path), which says which directory's it is. A directory is
    scanned with every framework asked for; only its own framework's checks are kept."""
    command = [checkov_binary()]
    for directory in dict.fromkeys(directory for directory, _framework in scans):
        command += ["--directory", str(directory)]
    command += ["--framework", *sorted({f for _, f in scans}), "--skip-download", "--output",
                "json"]
    result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=600)
    assert result.returncode in (0, 1), result.stderr
    reports: list[dict[str, Any]] = []
    decoder, text, at = json.JSONDecoder(), result.stdout, 0
    while text[at:].strip():
        at += len(text[at:]) - len(text[at:].lstrip())
        document, at = decoder.raw_decode(text, at)
        reports += document if isinstance(document, list) else [document]
    kinds = ("passed_checks", "failed_checks", "skipped_checks")
    out = []
    for directory, framework in scans:
        prefixes = tuple({f"{os.path.abspath(directory)}/", f"{directory.resolve()}/"})
        matching = [r for r in reports if r.get("check_type") == framework]
        assert matching, (directory, framework, result.stderr)
        out.append({kind: [c for r in matching for c in r["results"][kind]
                           if c["file_abs_path"].startswith(prefixes)] for kind in kinds})
    return out


@pytest.fixture(scope="module")
def cfn_lint(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One cfn-lint run (its start-up, loading the resource schemas, is most of a run's cost)
    over the template and a broken copy: each file is linted on its own. Returns the exit code,
    the matches by file ("template", "broken") and cfn-lint's stderr."""
    broken = tmp_path_factory.mktemp("cfn-lint") / "broken.yaml"
    broken.write_text(
        CFN_TEMPLATE.read_text(encoding="utf-8").replace(
            "ImageTagMutability: IMMUTABLE", "ImageTagMutability: FROZEN"
        ),
        encoding="utf-8",
    )
    result = subprocess.run(
        [venv_tool("cfn-lint"), "--include-checks", "I", "--format", "json", "--",
         str(CFN_TEMPLATE), str(broken)],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    matches = json.loads(result.stdout)
    files = {str(CFN_TEMPLATE): "template", str(broken): "broken"}
    by_file: dict[str, list[dict[str, Any]]] = {"template": [], "broken": []}
    for match in matches:
        by_file[files[match["Filename"]]].append(match)  # a file not given: a KeyError
    return {"returncode": result.returncode, "matches": by_file, "stderr": result.stderr}


def test_cfn_lint_reports_nothing(cfn_lint: dict[str, Any]) -> None:
    assert cfn_lint["matches"]["template"] == [], cfn_lint["matches"]["template"]
    assert cfn_lint["returncode"] in (0, 2), cfn_lint["stderr"]  # 2: the broken copy's error


def test_cfn_lint_catches_a_broken_copy(cfn_lint: dict[str, Any]) -> None:
    assert cfn_lint["returncode"] != 0
    assert any("FROZEN" in m["Message"] and m["Level"] == "Error"
               for m in cfn_lint["matches"]["broken"]), cfn_lint["matches"]["broken"]


@pytest.fixture(scope="module")
def trivy_findings(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[tuple[str, str,
                                                                                       str]]]:
    """Trivy's failed checks in templates/aws, terraform, k8s and codebuild, and in "weak":
    the Deployment with its read-only root and no-escalation settings turned off."""
    base = tmp_path_factory.mktemp("trivy-config")
    tree = base / "tree"
    for directory in TRIVY_DIRECTORIES:
        shutil.copytree(TEMPLATES / directory, tree / directory)
    weak = tree / "weak"
    weak.mkdir()
    text = (K8S / "user-authenticator" / "deployment.yaml").read_text(encoding="utf-8")
    text = text.replace("readOnlyRootFilesystem: true", "readOnlyRootFilesystem: false")
    text = text.replace("allowPrivilegeEscalation: false", "allowPrivilegeEscalation: true")
    (weak / "deployment.yaml").write_text(text, encoding="utf-8")
    return _trivy(tree, base / "cache")


@pytest.mark.parametrize("directory", TRIVY_DIRECTORIES)
def test_trivy_config_reports_no_high_or_critical(
        directory: str, trivy_findings: dict[str, list[tuple[str, str, str]]]) -> None:
    findings = trivy_findings.get(directory, [])
    high = [f for f in findings if f[2] in ("HIGH", "CRITICAL")]
    assert not high, high
    unexpected = {(t, i) for t, i, _ in findings} - ACCEPTED_TRIVY
    assert not unexpected, findings


def test_trivy_catches_a_weakened_deployment(
        trivy_findings: dict[str, list[tuple[str, str, str]]]) -> None:
    ids = {i for _, i, s in trivy_findings.get("weak", []) if s in ("HIGH", "CRITICAL")}
    assert "KSV-0014" in ids or "KSV-0001" in ids, ids


CHECKOV_MUST_PASS = {
    # CloudFormation: immutable tags, scan on push, KMS encryption, key rotation, IAM checks.
    ("aws", "cloudformation"): {"CKV_AWS_51", "CKV_AWS_163", "CKV_AWS_136", "CKV_AWS_7"},
    # Terraform: the same (the trust policy: test_checkov_github_trust_check below).
    ("terraform", "terraform"): {"CKV_AWS_51", "CKV_AWS_163", "CKV_AWS_136", "CKV_AWS_7"},
    # Kubernetes: digest, read-only root, no escalation, capabilities, seccomp, no SA token,
    # non-root high UID, probes, limits.
    ("k8s", "kubernetes"): {
        "CKV_K8S_43",
        "CKV_K8S_22",
        "CKV_K8S_20",
        "CKV_K8S_37",
        "CKV_K8S_31",
        "CKV_K8S_38",
        "CKV_K8S_40",
        "CKV_K8S_8",
        "CKV_K8S_9",
        "CKV_K8S_11",
        "CKV_K8S_13",
    },
    # The CodeBuild runner (templates/codebuild: its CloudFormation project and Terraform).
    ("codebuild", "cloudformation"): set(),
    ("codebuild", "terraform"): set(),
}


@pytest.fixture(scope="module")
def checkov_results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """One checkov run for the file: templates/aws, terraform and k8s each with its framework,
    and the two GitHub-resolved Terraform copies below ("exact", "wildcard")."""
    base = tmp_path_factory.mktemp("checkov")
    copies = {name: _github_resolved_terraform(base / name, subject) for name, subject in (
        ("exact", '"repo:example-org/app:ref:refs/heads/main"'), ("wildcard", '"repo:*"'))}
    scans = {f"{d}/{f}": (TEMPLATES / d, f) for d, f in sorted(CHECKOV_MUST_PASS)}
    scans.update({name: (copy, "terraform") for name, copy in copies.items()})
    return dict(zip(scans, _checkov(list(scans.values())), strict=True))


@pytest.mark.parametrize(("directory", "framework"), sorted(CHECKOV_MUST_PASS))
def test_checkov_reports_no_failed_check(directory: str, framework: str,
                                         checkov_results: dict[str, dict[str, Any]]) -> None:
    results = checkov_results[f"{directory}/{framework}"]
    failed = [(c["check_id"], c["resource"], c["file_path"]) for c in results["failed_checks"]]
    assert not failed, failed
    passed = {c["check_id"] for c in results["passed_checks"]}
    assert passed, (directory, framework)  # the framework found something to check
    assert CHECKOV_MUST_PASS[(directory, framework)] <= passed, (
        CHECKOV_MUST_PASS[(directory, framework)] - passed
    )
    for skipped in results["skipped_checks"]:
        assert (skipped.get("suppress_comment") or "").strip() or _reason_in_source(skipped), (
            skipped
        )


def _reason_in_source(skipped: dict[str, Any]) -> bool:
    """checkov drops the reason of some inline skips from its JSON; find it in the file."""
    # checkov names the file relative to the scanned directory (/main.tf, /monitoring/main.tf).
    relative = skipped["file_path"].lstrip("/")
    paths = [TEMPLATES / scanned / relative for scanned in TRIVY_DIRECTORIES
             if (TEMPLATES / scanned / relative).is_file()]
    pattern = rf"{skipped['check_id']}\s*[:=]\s*\S.{{10,}}"
    return any(
        re.search(pattern, path.read_text(encoding="utf-8")) is not None
        or re.search(rf"id: {skipped['check_id']}\s*\n\s*comment: \S", path.read_text())
        is not None
        for path in paths
    )


def _github_resolved_terraform(tmp_path: Path, subject_expression: str) -> Path:
    """templates/terraform with the GitHub provider and issuer written out: CKV_AWS_358 only
    inspects a trust policy whose principal literally names GitHub's OIDC provider."""
    copy = tmp_path / "terraform"
    # Without the monitoring module (a module of its own that the trust policy does not use):
    # checkov would check it again in each copy.
    shutil.copytree(TERRAFORM, copy, ignore=shutil.ignore_patterns("monitoring"))
    main = copy / "main.tf"
    text = main.read_text(encoding="utf-8")
    replacements = {
        "identifiers = [local.oidc_provider_arn]": (
            'identifiers = ["arn:aws:iam::123456789012:oidc-provider/'
            'token.actions.githubusercontent.com"]'
        ),
        'variable = "${var.oidc_issuer_host}:aud"': (
            'variable = "token.actions.githubusercontent.com:aud"'
        ),
        'variable = "${var.oidc_issuer_host}:sub"': (
            'variable = "token.actions.githubusercontent.com:sub"'
        ),
        "values   = [each.value]": f"values   = [{subject_expression}]",
        'test     = strcontains(each.value, "*") ? "StringLike" : "StringEquals"': (
            'test     = "StringEquals"'
        ),
    }
    for old, new in replacements.items():
        assert old in text, old
        text = text.replace(old, new)
    main.write_text(text, encoding="utf-8")
    return copy


def _trust_check(results: dict[str, Any]) -> set[str]:
    return {
        "passed" if c in results["passed_checks"] else "failed"
        for c in results["passed_checks"] + results["failed_checks"]
        if c["check_id"] == "CKV_AWS_358" and c["resource"].endswith(".trust")
    }


def test_checkov_github_trust_check_passes_the_exact_subject(
        checkov_results: dict[str, dict[str, Any]]) -> None:
    assert _trust_check(checkov_results["exact"]) == {"passed"}


def test_checkov_github_trust_check_fails_a_wildcard_subject(
        checkov_results: dict[str, dict[str, Any]]) -> None:
    assert _trust_check(checkov_results["wildcard"]) == {"failed"}


def test_terraform_is_formatted() -> None:
    """`terraform fmt -check` (test_terraform_validates checks the rest where the pinned
    provider is at hand). The project does not install Terraform: skipped without it."""
    terraform = shutil.which("terraform")
    if terraform is None:
        pytest.skip("terraform is not installed (the project does not install it)")
    result = subprocess.run(
        [terraform, "fmt", "-check", "-diff", "-recursive", str(TERRAFORM)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


# The AWS provider the modules pin (= 5.100.0), unpacked where `terraform init -plugin-dir`
# finds it; the project does not install it (no provider registry here).
PROVIDER_MIRROR = Path("/opt/tf-plugins")
TERRAFORM_MODULES = ("terraform", "terraform/monitoring", "codebuild/terraform")


# A variable block's name: every input of a module, to hand each one an unknown value.
TERRAFORM_VARIABLE = re.compile(r'^variable\s+"([^"]+)"', re.MULTILINE)


@pytest.fixture(scope="module")
def terraform_validation(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One `terraform validate` of a root that calls the three modules, every input of each
    given an unknown value (a variable of the root), as validate gives a root module's own
    inputs: the provider's schema (700 MB of provider, loaded by every validate) is read once,
    not once per module. validate walks every module of the tree with the same checks.
    Returns validate's JSON verdict, its exit code and the copied modules' directories."""
    terraform = shutil.which("terraform")
    if terraform is None or not PROVIDER_MIRROR.is_dir():
        pytest.skip(f"needs terraform and the AWS provider under {PROVIDER_MIRROR} "
                    "(the project installs neither)")
    base = tmp_path_factory.mktemp("terraform-validate")
    copy = base / "templates"
    shutil.copytree(TEMPLATES, copy, ignore=shutil.ignore_patterns(".terraform*"))
    root = base / "root"
    root.mkdir()
    calls = []
    for number, module in enumerate(TERRAFORM_MODULES):
        names = sorted({name for tf in (copy / module).glob("*.tf")
                        for name in TERRAFORM_VARIABLE.findall(tf.read_text(encoding="utf-8"))})
        assert names, module
        calls += [f'variable "m{number}_{name}" {{}}' for name in names]
        inputs = "".join(f"  {name} = var.m{number}_{name}\n" for name in names)
        calls.append(f'module "m{number}" {{\n  source = "../templates/{module}"\n{inputs}}}')
    (root / "main.tf").write_text("\n".join(calls) + "\n", encoding="utf-8")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(base), "CHECKPOINT_DISABLE": "1",
           "TF_IN_AUTOMATION": "1"}
    init = subprocess.run([terraform, "init", "-backend=false", "-input=false", "-no-color",
                           f"-plugin-dir={PROVIDER_MIRROR}"], cwd=root, env=env,
                          capture_output=True, text=True, check=False, timeout=300)
    assert init.returncode == 0, init.stdout + init.stderr
    result = subprocess.run([terraform, "validate", "-json", "-no-color"], cwd=root, env=env,
                            capture_output=True, text=True, check=False, timeout=300)
    verdict: dict[str, Any] = json.loads(result.stdout)
    return {"verdict": verdict, "returncode": result.returncode, "root": root,
            "modules": {module: (copy / module).resolve() for module in TERRAFORM_MODULES}}


def _problem(diagnostic: dict[str, Any]) -> str:
    return (f"{diagnostic.get('severity')}: {diagnostic.get('summary')}: "
            f"{diagnostic.get('detail', '')} "
            f"({(diagnostic.get('range') or {}).get('filename')})")


@pytest.mark.parametrize("module", TERRAFORM_MODULES)
def test_terraform_validates(module: str, terraform_validation: dict[str, Any]) -> None:
    """`terraform validate` with the pinned provider's schema: unknown arguments, wrong types,
    deprecated arguments, a reference to nothing. `fmt` reads only the syntax; the provider is
    what Terraform checks a plan against on first contact. (Where a `moved` block points is
    checked only by a plan against a state: validate accepts a `to` that names nothing.)
    The module's own diagnostics fail its test, warnings (deprecated arguments) too; one that
    names no module's file (the root's calls) fails every module's."""
    verdict, modules = terraform_validation["verdict"], terraform_validation["modules"]
    by_module: dict[str | None, list[str]] = {}
    for diagnostic in verdict.get("diagnostics", []):
        filename = (diagnostic.get("range") or {}).get("filename")  # relative to the root
        folder = (terraform_validation["root"] / filename).resolve().parent if filename else None
        owner = next((name for name, path in modules.items() if path == folder), None)
        by_module.setdefault(owner, []).append(_problem(diagnostic))
    problems = by_module.get(module, []) + by_module.get(None, [])
    assert not problems, "\n".join(problems)
    if not by_module:
        assert verdict.get("valid") is True and terraform_validation["returncode"] == 0, verdict
