"""templates/k8s: schema validation, the Deployment's hardening, the admission policies.

No Kubernetes API server can run here. The ValidatingAdmissionPolicy's CEL expressions are
evaluated by a CEL interpreter (cel-python), NOT by the API server: the exact expressions read
from the YAML, with ``object``, ``params`` and ``variables`` bound as the API server binds them
(variables evaluated in order, each visible to the later ones). The expressions use only what
both support (has, ternary, list +, filter, map, all, size, startsWith, matches); Kubernetes'
compile-time type and cost checks are not reproduced. The Kyverno policy is validated against
Kyverno 1.13.4's CRD models (cloudcoil-models-kyverno, in .tools/checkov-venv), not run; its
conditions are evaluated here by a reading of Kyverno's documented operators (wildcard
NotEquals, regex_match) to show it makes the same decisions as the ValidatingAdmissionPolicy.
"""

from __future__ import annotations

import copy
import fnmatch
import json
import re
import subprocess
from pathlib import Path
from typing import Any

import celpy
import pytest
import yaml
from celpy import celtypes

from tests.templates.conftest import K8S, REPO_ROOT, venv_tool

REGISTRY = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
DIGEST = "sha256:" + "ab" * 32
MANIFESTS = sorted(K8S.rglob("*.yaml"))
BUILTIN = [p for p in MANIFESTS if "kyverno" not in p.name]


def _documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]


def _find(kind: str) -> dict[str, Any]:
    for path in MANIFESTS:
        for document in _documents(path):
            if document.get("kind") == kind:
                return document
    raise AssertionError(f"no {kind} in templates/k8s")


@pytest.mark.parametrize("version", ["1.30.0", "1.37.0"])
def test_manifests_validate_against_kubernetes(version: str) -> None:
    """1.37 is the newest schema set of kubernetes-validate 1.37.0; 1.30 is the first release
    with admissionregistration.k8s.io/v1 ValidatingAdmissionPolicy."""
    result = subprocess.run(
        [venv_tool("kubernetes-validate"), "--strict", "-k", version, *map(str, BUILTIN)],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    resources = sum(len(_documents(p)) for p in BUILTIN)
    assert result.stdout.count(" passed for resource ") == resources, result.stdout


def test_kubernetes_validate_catches_a_bad_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    deployment = _find("Deployment")
    broken = copy.deepcopy(deployment)
    broken["spec"]["template"]["spec"]["containers"][0]["securityContext"]["runAsNonroot"] = True
    bad.write_text(yaml.safe_dump(broken), encoding="utf-8")
    result = subprocess.run(
        [venv_tool("kubernetes-validate"), "--strict", str(bad)],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode != 0


def test_deployment_is_hardened() -> None:
    deployment = _find("Deployment")
    pod = deployment["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    (container,) = pod["containers"]
    assert container["name"] == "user-authenticator"
    assert container["image"].split("@")[1].startswith("sha256:")
    context = container["securityContext"]
    assert context["runAsNonRoot"] is True and context["runAsUser"] == 10001
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context["capabilities"] == {"drop": ["ALL"]}
    assert context["seccompProfile"] == {"type": "RuntimeDefault"}
    assert set(container["resources"]["requests"]) >= {"cpu", "memory"}
    assert set(container["resources"]["limits"]) >= {"cpu", "memory"}
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert "emptyDir" in volumes[mounts["/data"]] and "emptyDir" in volumes[mounts["/tmp"]]
    env = {e["name"]: e for e in container["env"]}
    assert env["AUTH_JWT_SECRET"]["valueFrom"]["secretKeyRef"]["name"] == "user-authenticator"
    assert "DATABASE_URL" in env
    service_account = _find("ServiceAccount")
    assert service_account["automountServiceAccountToken"] is False
    assert pod["serviceAccountName"] == service_account["metadata"]["name"]


def test_network_policy_denies_by_default_and_allows_only_http_in() -> None:
    policies = {
        d["metadata"]["name"]: d
        for d in _documents(K8S / "platform" / "user-authenticator" / "networkpolicy.yaml")
    }
    deny = policies["default-deny-all"]["spec"]
    assert deny == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    allow = policies["user-authenticator-ingress"]["spec"]
    assert allow["policyTypes"] == ["Ingress"]
    (rule,) = allow["ingress"]
    assert rule["ports"] == [{"protocol": "TCP", "port": 8080}]
    assert "egress" not in allow


def test_deployer_role_can_only_roll_out_the_deployment() -> None:
    role = _find("Role")
    writes = [r for r in role["rules"] if set(r["verbs"]) - {"get", "list", "watch"}]
    assert writes == [
        {
            "apiGroups": ["apps"],
            "resources": ["deployments"],
            "resourceNames": ["user-authenticator"],
            "verbs": ["get", "list", "watch", "update", "patch"],
        }
    ]
    assert all("secrets" not in r["resources"] for r in role["rules"])
    binding = _find("RoleBinding")
    assert binding["subjects"] == [
        {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "scangate-deployers"}
    ]


# Resource (plural) -> kind, for what the deployer Role names.
_KINDS = {"deployments": "Deployment", "services": "Service", "replicasets": "ReplicaSet",
          "pods": "Pod", "serviceaccounts": "ServiceAccount",
          "networkpolicies": "NetworkPolicy", "poddisruptionbudgets": "PodDisruptionBudget"}


def test_the_pipeline_folder_holds_only_what_the_deployer_may_apply() -> None:
    """The deploy applies templates/k8s/user-authenticator as a whole: every object in it is of a
    kind (and name) the deployer Role may get and patch (`kubectl apply` of an existing object),
    the list the Role's header documents and scangate deploy's allowed kinds follow
    (tests/steps/test_deploy.py). The platform's objects of the service (Service, NetworkPolicy,
    PodDisruptionBudget, ServiceAccount) are applied once by the platform team."""
    role = _find("Role")
    grants = {
        (_KINDS[resource], name)
        for rule in role["rules"] if {"get", "patch"} <= set(rule["verbs"])
        for resource in rule["resources"] for name in rule.get("resourceNames", ["*"])
    }
    folder = [d for p in sorted((K8S / "user-authenticator").glob("*.yaml")) for d in _documents(p)]
    assert folder and {(d["kind"], d["metadata"]["name"]) for d in folder} <= grants
    header = (K8S / "platform" / "deployer-rbac.yaml").read_text(encoding="utf-8")
    assert "Kinds the pipeline's deploy applies: Deployment." in header
    platform = [d for p in sorted((K8S / "platform" / "user-authenticator").glob("*.yaml"))
                for d in _documents(p)]
    assert {d["kind"] for d in platform} == {
        "Service", "NetworkPolicy", "PodDisruptionBudget", "ServiceAccount"}
    assert not {(d["kind"], d["metadata"]["name"]) for d in platform} & grants


# --- ValidatingAdmissionPolicy, evaluated with a CEL interpreter --------------------------------

_ENV = celpy.Environment()


def _evaluate(expression: str, activation: dict[str, Any]) -> Any:
    program = _ENV.program(_ENV.compile(expression))
    return program.evaluate(activation)


def admit(pod: dict[str, Any], params: dict[str, Any] | None = None) -> tuple[bool, list[str]]:
    """(allowed, messages) of the policy's validations for ``pod`` (CREATE), as the API server
    evaluates them: variables first, in order, then every validation; a false validation adds
    its messageExpression's value."""
    policy = _find("ValidatingAdmissionPolicy")["spec"]
    if params is None:
        params = _find("ConfigMap")
    activation: dict[str, Any] = {
        "object": celpy.json_to_cel(pod),
        "oldObject": None,
        "params": celpy.json_to_cel(params),
    }
    variables: dict[celtypes.StringType, Any] = {}
    for variable in policy["variables"]:
        activation["variables"] = celtypes.MapType(variables)
        variables[celtypes.StringType(variable["name"])] = _evaluate(
            variable["expression"], activation
        )
    activation["variables"] = celtypes.MapType(variables)
    messages = []
    for validation in policy["validations"]:
        result = _evaluate(validation["expression"], activation)
        assert isinstance(result, celtypes.BoolType), result
        if not result:
            messages.append(str(_evaluate(validation["messageExpression"], activation)))
    return not messages, messages


def _pod(
    *images: str, init: tuple[str, ...] = (), ephemeral: tuple[str, ...] = ()
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "containers": [{"name": f"c{i}", "image": image} for i, image in enumerate(images)]
    }
    if init:
        spec["initContainers"] = [{"name": f"i{i}", "image": image} for i, image in enumerate(init)]
    if ephemeral:
        spec["ephemeralContainers"] = [
            {"name": f"e{i}", "image": image} for i, image in enumerate(ephemeral)
        ]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": spec}


PINNED = f"{REGISTRY}/user-authenticator@{DIGEST}"
TWO_REPOSITORIES = {"data": {"app": f"{REGISTRY}/user-authenticator",
                             "migrations": f"{REGISTRY}/team/migrate"}}

ADMITTED = [
    (_pod(PINNED), None),
    (_pod(f"{REGISTRY}/user-authenticator:prod-1a2b@{DIGEST}"), None),
    (_pod(PINNED, init=(PINNED,)), None),
    (_pod(PINNED, ephemeral=(PINNED,)), None),
    (_pod(PINNED, f"{REGISTRY}/team/migrate@{DIGEST}"), TWO_REPOSITORIES),
    (_pod(PINNED, init=(f"{REGISTRY}/team/migrate:v2@{DIGEST}",)), TWO_REPOSITORIES),
]
ADMITTED_IDS = ["one", "tag-and-digest", "init", "ephemeral", "second-repository",
                "second-repository-init"]


@pytest.mark.parametrize(("pod", "params"), ADMITTED, ids=ADMITTED_IDS)
def test_admission_policy_admits_pinned_images_of_the_pipelines_repositories(
    pod: dict[str, Any], params: dict[str, Any] | None
) -> None:
    assert admit(pod, params) == (True, [])


FOREIGN = "is not from a repository of the scangate pipeline"
UNPINNED = "is not pinned by digest"
REFUSED = [
    (_pod(f"{REGISTRY}/user-authenticator:prod-1a2b"), UNPINNED),
    (_pod(f"{REGISTRY}/user-authenticator"), UNPINNED),
    (_pod(f"{REGISTRY}/user-authenticator@sha256:abc"), UNPINNED),
    (_pod(f"{REGISTRY}/user-authenticator@sha512:{'ab' * 64}"), UNPINNED),
    (_pod(f"{REGISTRY}/user-authenticator@{DIGEST}@{DIGEST}"), UNPINNED),
    # Same registry, not the pipeline's repository: another team's, a pull-through cache.
    (_pod(f"{REGISTRY}/sidecar@{DIGEST}"), FOREIGN),
    (_pod(f"{REGISTRY}/docker-hub/library/python@{DIGEST}"), FOREIGN),
    (_pod(f"{REGISTRY}/user-authenticator-evil@{DIGEST}"), FOREIGN),
    (_pod(f"{REGISTRY}/user-authenticator/sub@{DIGEST}"), FOREIGN),
    (_pod(f"docker.io/library/python@{DIGEST}"), FOREIGN),
    (_pod(f"{REGISTRY}.evil.example/user-authenticator@{DIGEST}"), FOREIGN),
    (_pod(f"210987654321.dkr.ecr.us-east-1.amazonaws.com/user-authenticator@{DIGEST}"), FOREIGN),
    (_pod(f"user-authenticator@{DIGEST}"), FOREIGN),
    (_pod(PINNED, init=("busybox:1.36",)), "busybox:1.36"),
    (_pod(PINNED, ephemeral=("busybox",)), "busybox"),
    (_pod(PINNED, f"{REGISTRY}/user-authenticator:latest"), "user-authenticator:latest is not"),
]
REFUSED_IDS = ["tag", "bare", "short-digest", "sha512", "two-digests", "other-repository",
               "pull-through-cache", "name-prefix-trick", "sub-path", "docker-hub",
               "registry-prefix-trick", "other-account", "short-name", "init", "ephemeral",
               "second-container"]


@pytest.mark.parametrize(("pod", "fragment"), REFUSED, ids=REFUSED_IDS)
def test_admission_policy_refuses(pod: dict[str, Any], fragment: str) -> None:
    allowed, messages = admit(pod)
    assert not allowed
    assert any(fragment in m for m in messages), messages


def test_admission_policy_refuses_everything_without_repositories() -> None:
    """An empty list admits nothing; a ConfigMap without data fails evaluation (failurePolicy
    Fail: refused); no ConfigMap at all is refused by the binding."""
    allowed, messages = admit(_pod(PINNED), params={"data": {}})
    assert not allowed and FOREIGN in messages[0]
    with pytest.raises(celpy.CELEvalError):
        admit(_pod(PINNED), params={})
    policy = _find("ValidatingAdmissionPolicy")["spec"]
    assert policy["failurePolicy"] == "Fail"
    binding = _find("ValidatingAdmissionPolicyBinding")["spec"]
    assert binding["paramRef"]["parameterNotFoundAction"] == "Deny"
    assert binding["paramRef"]["name"] == _find("ConfigMap")["metadata"]["name"]
    assert binding["validationActions"] == ["Deny"]
    rules = policy["matchConstraints"]["resourceRules"]
    assert rules[0]["operations"] == ["CREATE", "UPDATE"]
    assert set(rules[0]["resources"]) == {"pods", "pods/ephemeralcontainers"}
    namespace = _find("Namespace")
    selector = binding["matchResources"]["namespaceSelector"]["matchLabels"]
    assert selector.items() <= namespace["metadata"]["labels"].items()


def test_the_deployment_template_is_admitted_once_pinned() -> None:
    pod_spec = copy.deepcopy(_find("Deployment")["spec"]["template"]["spec"])
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": pod_spec}
    assert admit(pod)[0] is True  # the placeholder is a digest in the example repository
    pod_spec["containers"][0]["image"] = f"{REGISTRY}/user-authenticator:latest"
    assert admit(pod)[0] is False


# --- Kyverno ------------------------------------------------------------------------------------

KYVERNO = K8S / "admission" / "kyverno-require-scanned-images.yaml"


def test_kyverno_policy_matches_kyverno_crd_models() -> None:
    """Parsed by Kyverno 1.13.4's CRD models (cloudcoil) in the tools venv; a round trip that
    loses nothing proves no field is unknown to the CRD (the models ignore unknown fields)."""
    python = REPO_ROOT / ".tools" / "checkov-venv" / "bin" / "python"
    if not python.exists():
        pytest.fail("tools venv missing: run `make setup` (tools/setup/40-checkov.sh)")
    # Only the v1 models are read: the package's __init__ would import every Kyverno API
    # version first (v2beta1 and v2 alone cost over a second of CPU), so the package is entered
    # in sys.modules as a bare package of the same directory and v1 imported from it.
    script = (
        "import importlib.util, json, sys, types, yaml\n"
        "spec = importlib.util.find_spec('cloudcoil.models.kyverno')\n"
        "package = types.ModuleType(spec.name)\n"
        "package.__path__ = list(spec.submodule_search_locations)\n"
        "sys.modules[spec.name] = package\n"
        "from cloudcoil.models.kyverno import v1\n"
        "assert 'cloudcoil.models.kyverno.v2beta1' not in sys.modules\n"
        "doc = yaml.safe_load(open(sys.argv[1]))\n"
        "policy = v1.ClusterPolicy.model_validate(doc)\n"
        "out = policy.model_dump(by_alias=True, exclude_unset=True, mode='json')\n"
        "print(json.dumps({'roundtrip': out == doc}))\n"
    )
    result = subprocess.run(
        [str(python), "-c", script, str(KYVERNO)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"roundtrip": True}


_REGEX_MATCH = re.compile(
    r"^\{\{ regex_match\('(?P<regex>[^']+)', '\{\{ element\.image \}\}'\) \}\}$"
)


def _kyverno_condition(condition: dict[str, Any], image: str) -> bool:
    """One condition of the policy, for one image: NotEquals with Kyverno's wildcards (* any
    run of characters, ? one), or Equals on regex_match (Go RE2 syntax; these patterns mean the
    same in Python). Anything else in the file fails the test instead of being guessed."""
    key, operator, value = condition["key"], condition["operator"], condition["value"]
    if key == "{{ element.image }}" and operator == "NotEquals":
        return not fnmatch.fnmatchcase(image, value)
    match = _REGEX_MATCH.match(key)
    assert match and operator == "Equals" and value is False, condition
    return re.search(match["regex"], image) is None


def kyverno_admits(pod: dict[str, Any]) -> bool:
    (policy,) = _documents(KYVERNO)
    spec = pod["spec"]
    images = [c["image"] for key in ("ephemeralContainers", "initContainers", "containers")
              for c in spec.get(key, [])]
    for rule in policy["spec"]["rules"]:
        (each,) = rule["validate"]["foreach"]
        assert each["list"] == (
            "request.object.spec.[ephemeralContainers, initContainers, containers][]")
        conditions = each["deny"]["conditions"]
        ((combine, items),) = conditions.items()
        for image in images:
            results = [_kyverno_condition(c, image) for c in items]
            if (all(results) if combine == "all" else any(results)):
                return False
    return True


@pytest.mark.parametrize("pod", [p for p, params in ADMITTED if params is None]
                         + [p for p, _ in REFUSED])
def test_kyverno_policy_makes_the_same_decisions_as_the_admission_policy(
    pod: dict[str, Any]
) -> None:
    """The default Kyverno policy is satisfiable by what the pack produces (a pinned image of
    the pipeline's repository) and refuses what the ValidatingAdmissionPolicy refuses."""
    assert kyverno_admits(pod) == admit(pod)[0]


def test_kyverno_default_needs_no_attestation_and_enforces() -> None:
    """Nothing in the pack produces a vulnerability attestation, so the default file must not
    require one (applied as shipped it would refuse every image); the attestation variant is a
    documented option, with the step that produces it (docs/templates.md)."""
    (policy,) = _documents(KYVERNO)
    assert "verifyImages" not in json.dumps(policy)
    assert all(r["validate"]["failureAction"] == "Enforce" for r in policy["spec"]["rules"])
    docs = (REPO_ROOT / "docs" / "templates.md").read_text(encoding="utf-8")
    assert "cosign attest --type vuln" in docs
    assert "https://cosign.sigstore.dev/attestation/vuln/v1" in docs
