"""The demo's steps, in the order the CI pipelines run them.

Each step is a small function over `Demo` (options, a command runner, what earlier steps
learned). The tarball saved in step 3 is the one artifact everything downstream uses: Trivy
scans it, the gate judges that scan, and `scangate push` copies exactly those bytes.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tools import pkgindex, trivydb
from tools.demo import monitor, registry
from tools.demo.console import Progress, Say
from tools.demo.procs import REPO_ROOT, SETUP_HINT, DemoError, Runner, aws_env, moto_server, tool

EXAMPLE_DIR = REPO_ROOT / "examples" / "user-authenticator"
DOCKERFILE = EXAMPLE_DIR / "Dockerfile"
MANIFESTS_DIR = REPO_ROOT / "templates" / "k8s" / "user-authenticator"
# The image the manifest templates name (an ECR repository); rendered for the local registry.
TEMPLATE_REPOSITORY = "123456789012.dkr.ecr.us-east-1.amazonaws.com/user-authenticator"
LOCAL_BASE_IMAGE = "scangate.local/python-base:bookworm"
SECURITY_HUB_REGION = "us-east-1"
TRIVY_SCANNERS = "vuln,secret"  # the image; the Dockerfile gets its own misconfig scan
# Everything a previous run may have left in the reports directory (and nothing else).
OUTPUT_FILES = (
    "trivy-image.json",
    "trivy-config.json",
    "scangate.sarif",
    "gl-container-scanning-report.json",
    "summary.json",
    "summary.md",
    "asff.json",
    "push.json",
    "demo.json",
)
OUTPUT_DIRS = ("k8s", "logs")
STEPS = 9


@dataclass(frozen=True)
class Options:
    vulnerable: bool
    mode: str  # "auto", "online" or "offline"
    local_index: bool  # serve the pinned files from the host even online
    reports_dir: Path
    registry: str
    repository: str
    tag: str
    policy: Path
    verbose: bool

    @property
    def requirements(self) -> str:
        return "requirements-vulnerable.txt" if self.vulnerable else "requirements.txt"

    @property
    def image(self) -> str:
        """The local build's name is the name it is pushed under, so reports show it."""
        return f"{self.registry}/{self.repository}:{self.tag}"


@dataclass
class Demo:
    """Options, the runner, and what the steps learned (written to reports/demo.json)."""

    options: Options
    runner: Runner
    work_dir: Path
    online: bool = False
    mode_reason: str = ""
    image_id: str = ""
    tarball: Path | None = None
    tarball_sha256: str = ""
    gate_code: int | None = None
    summary: dict[str, Any] = field(default_factory=dict)
    db_digest: str = ""  # offline: sha256 of the test DB this run built or checked
    securityhub_imported: int | None = None
    securityhub_by_severity: dict[str, int] = field(default_factory=dict)
    pushed: registry.PushedImage | None = None
    manifests: list[str] = field(default_factory=list)
    monitor: dict[str, Any] = field(default_factory=dict)
    # What run_steps stops when it ends (the moto server), and that server's URL.
    resources: ExitStack = field(default_factory=ExitStack)
    aws_endpoint: str = ""

    def report(self, name: str) -> Path:
        return self.options.reports_dir / name

    def moto(self) -> str:
        """The demo's one moto server (Security Hub, then the monitoring stack: one account,
        one region, no shared resource), started by the first step that needs it and stopped
        when run_steps ends. A second server cost about 1.2 s of CPU to start."""
        if not self.aws_endpoint:
            self.aws_endpoint = self.resources.enter_context(
                moto_server(self.runner.log_path("moto")))
        return self.aws_endpoint


def display(path: Path) -> str:
    """A path as the user typed it: relative to the current directory when inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def clear_outputs(reports_dir: Path) -> None:
    """Remove a previous run's outputs, so a stale pass can never be read as this run's."""
    reports_dir.mkdir(parents=True, exist_ok=True)
    for name in OUTPUT_FILES:
        (reports_dir / name).unlink(missing_ok=True)
    for name in OUTPUT_DIRS:
        shutil.rmtree(reports_dir / name, ignore_errors=True)


# --- 1. check the machine ---------------------------------------------------------------------


def dockerfile_base_image() -> str:
    """The Dockerfile's default BASE_IMAGE: the public base, pinned by digest."""
    match = re.search(r"^ARG BASE_IMAGE=(\S+)", DOCKERFILE.read_text(), re.MULTILINE)
    if not match:
        raise DemoError(f"{DOCKERFILE}: no `ARG BASE_IMAGE=...` default")
    return match.group(1)


def image_exists(demo: Demo, ref: str) -> bool:
    code = demo.runner.run(
        ["docker", "image", "inspect", "--format", "{{.Id}}", ref],
        log="docker",
        timeout=60,
        ok=(0, 1),
    ).returncode
    return code == 0


def online_problem(demo: Demo) -> str:
    """Why the online pipeline cannot run here ("" when it can): the public base image and
    Trivy's real DB must both be reachable. Both fail within a second without a network."""
    base = dockerfile_base_image()
    if not image_exists(demo, base):
        pulled = demo.runner.run(
            ["docker", "pull", base], log="online-check", timeout=900, ok=(0, 1)
        )
        if pulled.returncode != 0:
            return f"cannot pull the base image {base.split('@')[0]}"
    db = demo.runner.run(
        [tool("trivy"), "image", "--download-db-only", "--quiet"],
        log="online-check",
        timeout=900,
        ok=(0, 1),
    )
    if db.returncode != 0:
        return "cannot download Trivy's vulnerability DB"
    return ""


def choose_mode(demo: Demo, say: Say) -> None:
    if demo.options.mode == "offline":
        demo.online, demo.mode_reason = False, "asked for with --offline"
    else:
        problem = online_problem(demo)
        if problem and demo.options.mode == "online":
            raise DemoError(f"--online: {problem} (see {demo.runner.log_path('online-check')})")
        demo.online = not problem
        demo.mode_reason = problem or "registries reachable"
    if not demo.online:
        if not image_exists(demo, LOCAL_BASE_IMAGE):
            raise DemoError(f"offline needs the local base image {LOCAL_BASE_IMAGE}: {SETUP_HINT}")
        # Pinned as built (or as its stamp says it was built): the scan refuses any other DB.
        demo.db_digest = "sha256:" + sha256_file(trivydb.build_db(trivydb.DEFAULT_CACHE_DIR))
    where = "online" if demo.online else "offline"
    say(f"mode: {where} ({demo.mode_reason})")
    if not demo.online:
        say(
            f"base image {LOCAL_BASE_IMAGE}; Trivy DB: the project's test DB "
            f"({display(trivydb.DEFAULT_CACHE_DIR)}); pip: a local index of the pinned files"
        )


def check_machine(demo: Demo, say: Say) -> None:
    opts = demo.options
    for name in ("scangate", "trivy", "moto_server"):
        tool(name)
    if not opts.policy.is_file():
        raise DemoError(f"policy {opts.policy} not found")
    try:
        demo.runner.capture(["docker", "info", "--format", "{{.ServerVersion}}"], log="docker")
    except DemoError as exc:
        raise DemoError(f"no Docker engine answers `docker info`: {SETUP_HINT}") from exc
    if not registry.available(opts.registry):
        raise DemoError(f"no registry answers http://{opts.registry}/v2/: {SETUP_HINT}")
    # Tags are immutable, as in ECR: refuse before spending a build on a name already taken.
    if registry.read_manifest(opts.registry, opts.repository, opts.tag) is not None:
        raise DemoError(f"{opts.image} already exists and tags are immutable: pick another --tag")
    say(f"docker, registry {opts.registry}, trivy, scangate and moto_server found")
    choose_mode(demo, say)


# --- 2. build -----------------------------------------------------------------------------------


def base_image(demo: Demo) -> str:
    return dockerfile_base_image() if demo.online else LOCAL_BASE_IMAGE


def base_python(demo: Demo) -> str:
    """X.Y of the base image's python3: the wheels the local index serves must fit it, not
    the host's Python."""
    cmd = [
        "docker", "run", "--rm", "--network", "host", "--entrypoint", "python3",
        base_image(demo), "-c", "import sys; print('%d.%d' % sys.version_info[:2])",
    ]  # fmt: skip
    return demo.runner.capture(cmd, log="build", timeout=120)


@contextmanager
def package_index(demo: Demo, say: Say) -> Iterator[str | None]:
    """The local index URL for the build, or None for pip's default index.

    Needed where containers cannot reach the package index themselves (offline machines, or
    a TLS-intercepting proxy only the host trusts: --local-index).
    """
    if demo.online and not demo.options.local_index:
        yield None
        return
    requirements = [EXAMPLE_DIR / demo.options.requirements]
    try:
        # shared: the same URL every run (and the tests' builds), so Docker's layer cache
        # serves a rebuild of the same requirements instead of installing them again.
        with pkgindex.serve_index(
            requirements, python_version=base_python(demo), shared=True
        ) as url:
            say(f"pip reads the pinned files from {url} (tools/pkgindex)")
            yield url
    except pkgindex.PackageIndexError as exc:
        raise DemoError(f"local package index: {exc}") from exc


def build(demo: Demo, say: Say) -> None:
    opts = demo.options
    args = {"REQUIREMENTS": opts.requirements, "BASE_IMAGE": base_image(demo)}
    with package_index(demo, say) as index_url:
        if index_url:
            args["PIP_INDEX_URL"] = index_url
        cmd = ["docker", "build", "--network", "host", "--tag", opts.image]
        for key, value in args.items():
            cmd += ["--build-arg", f"{key}={value}"]
        say(
            f"docker build {display(EXAMPLE_DIR)} ({opts.requirements}) "
            f"(log: {display(demo.runner.log_path('build'))})"
        )
        # The classic builder: it needs no buildx plugin (these machines have none), and
        # `--network host` lets RUN steps reach the loopback index.
        env = {**os.environ, "DOCKER_BUILDKIT": "0"}
        demo.runner.run([*cmd, str(EXAMPLE_DIR)], log="build", timeout=1800, env=env)
    demo.image_id = demo.runner.capture(
        ["docker", "image", "inspect", "--format", "{{.Id}}", opts.image], log="build"
    )
    say(f"{opts.image}, image ID {demo.image_id}")


# --- 3. save ------------------------------------------------------------------------------------


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def save(demo: Demo, say: Say) -> None:
    tarball = demo.work_dir / "image.tar"
    demo.runner.run(
        ["docker", "save", "--output", str(tarball), demo.options.image], log="save", timeout=600
    )
    demo.tarball, demo.tarball_sha256 = tarball, sha256_file(tarball)
    size = tarball.stat().st_size / 1e6
    say(f"{size:.0f} MB tarball, sha256 {demo.tarball_sha256[:16]}...: scanned, then pushed")


# --- 4. scan ------------------------------------------------------------------------------------


def scan_command(demo: Demo, *target: str, output: Path, scanners: str) -> list[str]:
    """`scangate scan`, the pipelines' scan step: Trivy runs in an empty directory with an empty
    ignore file and config and without TRIVY_* variables, so nothing in the checkout (a
    .trivyignore, a trivy.yaml) or the environment changes what it reports. Online the cached
    DB is dropped and Trivy downloads the one its repository serves now (--fresh-db); offline
    it reads only the test DB in .tools/trivy-cache, pinned by its digest (--db-digest)."""
    cmd = [tool("scangate"), "scan", *target, "--output", str(output), "--scanners", scanners]
    if demo.online:
        # A DB mirror set for Trivy is kept: scangate scan drops TRIVY_* variables.
        for repository in filter(None, os.environ.get("TRIVY_DB_REPOSITORY", "").split(",")):
            cmd += ["--db-repository", repository.strip()]
        return [*cmd, "--fresh-db"]
    return [*cmd, "--cache-dir", str(trivydb.DEFAULT_CACHE_DIR), "--skip-db-update",
            "--db-digest", demo.db_digest, "--offline-scan"]


def load_json(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DemoError(f"{path}: unreadable ({exc})") from exc
    if not isinstance(doc, dict):
        raise DemoError(f"{path}: not a JSON object")
    return doc


def count_results(doc: dict[str, Any], key: str) -> int:
    return sum(len(r.get(key) or []) for r in doc.get("Results") or [])


def scan(demo: Demo, say: Say) -> None:
    assert demo.tarball is not None
    image_report, config_report = demo.report("trivy-image.json"), demo.report("trivy-config.json")
    image_cmd = scan_command(demo, "--input", str(demo.tarball), output=image_report,
                             scanners=TRIVY_SCANNERS)
    demo.runner.run(image_cmd, log="trivy", timeout=900)
    image_doc = load_json(image_report)
    scanned = (image_doc.get("Metadata") or {}).get("ImageID")
    if scanned != demo.image_id:
        raise DemoError(f"Trivy scanned image {scanned}, not the one built ({demo.image_id})")
    say(
        f"trivy image: {count_results(image_doc, 'Vulnerabilities')} vulnerabilities, "
        f"{count_results(image_doc, 'Secrets')} secrets -> {display(image_report)}"
    )
    config_cmd = scan_command(demo, "--fs", str(EXAMPLE_DIR), output=config_report,
                              scanners="misconfig")
    demo.runner.run(config_cmd, log="trivy", timeout=600)
    config_doc = load_json(config_report)
    failed = sum(
        1
        for r in config_doc.get("Results") or []
        for m in r.get("Misconfigurations") or []
        if m.get("Status") == "FAIL"
    )
    say(f"trivy config (Dockerfile): {failed} failed checks -> {display(config_report)}")


# --- 5. gate ------------------------------------------------------------------------------------


def untag(demo: Demo) -> None:
    """Drop the local tag of an image the gate refused: it carries the registry's name, and a
    hand-typed `docker push` must not ship what the gate stopped. The build's layers stay
    (`--no-prune`): the next run's build of the same requirements takes them from the cache."""
    demo.runner.run(
        ["docker", "image", "rm", "--no-prune", demo.options.image], log="docker", timeout=120
    )


def gate(demo: Demo, say: Say) -> None:
    # One decision over both reports, as the CI pipelines take it.
    cmd = [
        tool("scangate"), "gate", "--policy", str(demo.options.policy),
        "--report", str(demo.report("trivy-image.json")),
        "--report", str(demo.report("trivy-config.json")),
        "--sarif", str(demo.report("scangate.sarif")),
        "--gitlab-report", str(demo.report("gl-container-scanning-report.json")),
        "--json-summary", str(demo.report("summary.json")),
        "--summary-md", str(demo.report("summary.md")),
        "--dockerfile", os.path.relpath(DOCKERFILE, REPO_ROOT),
    ]  # fmt: skip
    # The demo is not a GitHub job: its summary must not land in one it happens to run in.
    env = {k: v for k, v in os.environ.items() if k != "GITHUB_STEP_SUMMARY"}
    result = demo.runner.run(cmd, log="gate", timeout=600, env=env, ok=(0, 1))
    demo.gate_code = result.returncode
    demo.summary = load_json(demo.report("summary.json"))
    for line in result.output.rstrip().splitlines():
        say(f"> {line}")
    if demo.gate_code != 0:
        untag(demo)
        say(f"local tag {demo.options.image} removed: no one pushes the refused image by hand")


# --- 6. Security Hub ----------------------------------------------------------------------------


def count_findings(endpoint: str) -> dict[str, int]:
    """Findings Security Hub (moto) now holds, by severity label: read back, not assumed."""
    import boto3  # the AWS SDK scangate itself depends on; only this step needs it

    client = boto3.client(
        "securityhub",
        endpoint_url=endpoint,
        region_name=SECURITY_HUB_REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # noqa: S106 - moto's dummy credentials
    )
    counts: dict[str, int] = {}
    for page in client.get_paginator("get_findings").paginate(MaxResults=100):
        for finding in page["Findings"]:
            label = str(finding.get("Severity", {}).get("Label", "UNKNOWN"))
            counts[label] = counts.get(label, 0) + 1
    return counts


def security_hub(demo: Demo, say: Say) -> None:
    """Every finding is imported whether the gate passed or not: a blocked release's findings
    are exactly the ones people need to see."""
    endpoint = demo.moto()
    say(f"moto server (local AWS emulator) on {endpoint}")
    cmd = [
        tool("scangate"), "securityhub", "--region", SECURITY_HUB_REGION,
        "--report", str(demo.report("trivy-image.json")),
        "--report", str(demo.report("trivy-config.json")),
        "--asff-out", str(demo.report("asff.json")),
    ]  # fmt: skip
    env = aws_env(endpoint, SECURITY_HUB_REGION)
    output = demo.runner.run(cmd, log="securityhub", timeout=600, env=env).output
    match = re.search(r"imported (\d+) findings", output)
    if not match:
        raise DemoError(f"scangate securityhub printed no import count:\n{output[-2000:]}")
    demo.securityhub_imported = int(match.group(1))
    demo.securityhub_by_severity = count_findings(endpoint)
    held = sum(demo.securityhub_by_severity.values())
    say(
        f"imported {demo.securityhub_imported} findings; Security Hub now lists {held} "
        f"({format_counts(demo.securityhub_by_severity)}); ASFF -> "
        f"{display(demo.report('asff.json'))}"
    )


def format_counts(counts: dict[str, int]) -> str:
    order = ["CRITICAL", "HIGH", "MEDIUM", "LOW", "INFORMATIONAL", "UNKNOWN"]
    keys = sorted(counts, key=lambda k: order.index(k.upper()) if k.upper() in order else 99)
    return ", ".join(f"{k.lower()} {counts[k]}" for k in keys) or "none"


# --- 7. push ------------------------------------------------------------------------------------


def push(demo: Demo, say: Say) -> None:
    """`scangate push`, the pipelines' push step: it re-reads the gate's summary.json (a pass for
    this image ID), checks the tarball is the one scanned (its sha256 and config digest), pushes
    those bytes (not whatever the daemon now calls that tag) and reads them back. The demo then
    reads the registry once more itself: what a cluster would pull must be the scanned image."""
    assert demo.tarball is not None
    opts = demo.options
    output = demo.report("push.json")
    # Plain HTTP only because the registry is on loopback; ECR in the CI pipelines is TLS.
    cmd = [
        tool("scangate"), "push", "--archive", str(demo.tarball),
        "--image-id", demo.image_id, "--archive-sha256", demo.tarball_sha256,
        "--decision", str(demo.report("summary.json")),
        "--repository", f"{opts.registry}/{opts.repository}", "--tag", opts.tag,
        "--output", str(output),
    ]  # fmt: skip
    demo.runner.run(cmd, log="push", timeout=900)
    demo.pushed = registry.verify_pushed(opts.registry, opts.repository, opts.tag, demo.image_id)
    recorded = load_json(output).get("image-digest")
    if recorded != demo.pushed.digest:
        raise DemoError(f"{output}: scangate push recorded {recorded}, the registry serves "
                        f"{demo.pushed.digest} for {opts.image}")
    say(f"scangate push {opts.image} -> {demo.pushed.digest} ({display(output)})")
    say("registry manifest read back: its config is the scanned image ID")


# --- 8. pin -------------------------------------------------------------------------------------


def render_for_registry(demo: Demo) -> Path:
    """The manifest templates with their ECR repository replaced by the local one."""
    assert demo.pushed is not None
    source = demo.work_dir / "manifests"
    shutil.copytree(MANIFESTS_DIR, source)
    replaced = 0
    for path in sorted(source.rglob("*.y*ml")):
        text = path.read_text(encoding="utf-8")
        replaced += text.count(TEMPLATE_REPOSITORY)
        path.write_text(text.replace(TEMPLATE_REPOSITORY, demo.pushed.repository), "utf-8")
    if not replaced:
        raise DemoError(f"{MANIFESTS_DIR}: no image {TEMPLATE_REPOSITORY} to render")
    return source


def pin(demo: Demo, say: Say) -> None:
    assert demo.pushed is not None
    output = demo.report("k8s")
    cmd = [
        tool("scangate"), "pin-image", "--manifests", str(render_for_registry(demo)),
        "--image", demo.pushed.by_digest, "--output", str(output),
    ]  # fmt: skip
    result = demo.runner.run(cmd, log="pin", timeout=120)
    # pin-image prints "pinned FILE: KIND/NAME container C: OLD -> NEW" per container.
    pinned = re.findall(
        r"^pinned (\S+): (\S+) container (\S+): \S+ -> (\S+)$", result.output, re.MULTILINE
    )
    source = str(demo.work_dir / "manifests") + "/"
    demo.manifests = sorted({file.removeprefix(source) for file, *_ in pinned})
    for file, workload, container, image in pinned:
        say(f"{file.removeprefix(source)}: {workload} container {container} -> {image}")
    say(f"rendered -> {display(output)}/ (kubectl apply -f {display(output)}/)")


# --- 9. watch ------------------------------------------------------------------------------------


def watch(demo: Demo, say: Say) -> None:
    """After the push: the pushed image (same manifest, same digest) watched by the registry
    monitor (tools/demo/monitor.py), its stack on the moto server Security Hub used."""
    pushed = demo.pushed
    assert pushed is not None
    opts = demo.options
    found = registry.read_manifest(opts.registry, opts.repository, pushed.digest)
    if found is None:
        raise DemoError(f"monitor: {pushed.by_digest} is not in the registry any more")
    report = load_json(demo.report("trivy-image.json"))
    policy_text = opts.policy.read_text(encoding="utf-8")
    endpoint = demo.moto()
    say(f"moto server on {endpoint}: the stack of templates/aws/scangate-monitoring.yaml")
    demo.monitor = monitor.run(endpoint, policy_text=policy_text, repository=opts.repository,
                               tag=pushed.tag, digest=pushed.digest, manifest=found[0],
                               report=report, say=say)
    if demo.monitor["decision_after"] != "fail" or len(demo.monitor["alerts"]) != 1:
        raise DemoError(f"monitor: expected FAIL and one alert, got {demo.monitor}")


# --- the run ------------------------------------------------------------------------------------


def run_steps(demo: Demo, progress: Progress) -> int:
    """All steps; return the gate's exit code. DemoError (exit 2) from any step stops it."""
    with demo.resources:
        return _run_steps(demo, progress)


def _run_steps(demo: Demo, progress: Progress) -> int:
    with progress.step("check the machine") as say:
        check_machine(demo, say)
    with progress.step("build the image") as say:
        build(demo, say)
    with progress.step("save the image tarball") as say:
        save(demo, say)
    with progress.step("scan it with Trivy") as say:
        scan(demo, say)
    with progress.step("gate it with scangate") as say:
        gate(demo, say)
    with progress.step("import the findings into Security Hub (local moto server)") as say:
        security_hub(demo, say)
    assert demo.gate_code is not None
    if demo.gate_code == 0:
        with progress.step(f"push to the registry ({demo.options.registry})") as say:
            push(demo, say)
        with progress.step("pin the Kubernetes manifests to the pushed digest") as say:
            pin(demo, say)
        with progress.step("watch the registry: a new CVE turns the deployed image FAIL "
                           "(monitor, local moto server)") as say:
            watch(demo, say)
    else:
        progress.skip("push to the registry", "the gate failed, so nothing is pushed")
        progress.skip("pin the Kubernetes manifests", "nothing was pushed")
        progress.skip("watch the registry", "nothing was pushed")
    return demo.gate_code


def record(demo: Demo, progress: Progress, exit_code: int, error: str | None) -> dict[str, Any]:
    """reports/demo.json: what ran and what came out, for people and tests."""
    return {
        "exit_code": exit_code,
        "error": error,
        "variant": "vulnerable" if demo.options.vulnerable else "clean",
        "requirements": demo.options.requirements,
        "mode": "online" if demo.online else "offline",
        "mode_reason": demo.mode_reason,
        "image": demo.options.image,
        "image_id": demo.image_id or None,
        "tarball_sha256": demo.tarball_sha256 or None,
        "decision": demo.summary.get("decision"),
        "counts": demo.summary.get("counts"),
        "securityhub_imported": demo.securityhub_imported,
        "securityhub_by_severity": demo.securityhub_by_severity,
        "pushed": demo.pushed.by_digest if demo.pushed else None,
        "digest": demo.pushed.digest if demo.pushed else None,
        "manifests": demo.manifests,
        "monitor": demo.monitor or None,
        "steps": progress.timings,
    }
