"""`make demo`: the whole pipeline, locally, on the example service (`python -m tools.demo`).

build (docker build) -> save (the tarball that is scanned and pushed) -> scan (Trivy: image and
Dockerfile) -> gate (scangate + .scangate/policy.yaml: SARIF, GitLab report, summaries in
./reports/) -> Security Hub (import into a local moto server, pass or fail) -> push (only on
pass: `scangate push`, as in the pipelines, of the scanned tarball to the local registry,
verified by digest) -> pin (only on pass: the
Kubernetes manifests pinned to the pushed digest) -> monitor (only on pass: on a local moto
server, the registry monitor watches the pushed digest; a rescan with a new CRITICAL turns it
FAIL and sends one alert, see tools/demo/monitor.py). The exit code is the gate's: 0 pass,
1 policy violated; 2 means the demo itself failed (setup, a tool, the registry).

Online it builds on the Dockerfile's pinned public base image and Trivy uses its real DB;
offline (no registry reachable) it builds on the local base image `make setup` made, Trivy
reads the project's own test DB (tools/trivydb) and pip in the build reads a local index of
the pinned files (tools/pkgindex).
"""
