#!/usr/bin/env bash
# The Kubernetes manifests, checked as far as a machine without a cluster allows: kustomize
# (kubectl's, Debian's kubernetes-client) renders them with a secret, and every resource
# validates strictly against the Kubernetes 1.31 API schemas (kubernetes-validate, offline);
# then the rendered objects are what the README promises: a driver StatefulSet with a
# persistent volume and one replica, an executor StatefulSet behind a headless Service whose
# pods advertise their stable names, the Secret both mount, and resource limits on both.
set -euo pipefail
# (Bazel points HOME at the test's temporary directory, so the account's home is looked up.)
VENV="${EMBER_VENV:-$(getent passwd "$(id -u)" | cut -d: -f6)/.cache/ember-venv}"
work=$(mktemp -d "${TEST_TMPDIR:-/tmp}/k8s.XXXXXX")
cp deploy/kubernetes/*.yaml "$work/"
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$work/secret"

kubectl kustomize "$work" >"$work/rendered.yaml"
echo "rendered $(grep -c '^kind:' "$work/rendered.yaml") objects"
"$VENV/bin/kubernetes-validate" --strict -k 1.31.0 "$work/rendered.yaml"

"$VENV/bin/python" - "$work/rendered.yaml" "$work/secret" <<'PY'
import base64, sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
secret = open(sys.argv[2]).read()
by = {(d["kind"], d["metadata"]["name"]): d for d in docs}
assert set(by) == {("Service", "ember-driver"), ("Service", "ember-executor"),
                   ("StatefulSet", "ember-driver"), ("StatefulSet", "ember-executor"),
                   ("Secret", "ember-secret")}, sorted(by)
assert base64.b64decode(by["Secret", "ember-secret"]["data"]["secret"]).decode() == secret
driver = by["StatefulSet", "ember-driver"]["spec"]
assert driver["replicas"] == 1
assert driver["volumeClaimTemplates"][0]["metadata"]["name"] == "work"
executor = by["StatefulSet", "ember-executor"]["spec"]
assert by["Service", "ember-executor"]["spec"]["clusterIP"] == "None"
assert executor["serviceName"] == "ember-executor"
for spec, mounts in ((driver, {"work", "secret"}), (executor, {"data", "secret"})):
    pod = spec["template"]["spec"]
    c = pod["containers"][0]
    assert {m["name"] for m in c["volumeMounts"]} == mounts, c["volumeMounts"]
    assert c["resources"]["limits"]["memory"] and c["resources"]["requests"]["cpu"], c
    assert pod["securityContext"]["runAsUser"] == 10001
    assert any(v.get("secret", {}).get("secretName") == "ember-secret" for v in pod["volumes"])
    assert spec["selector"]["matchLabels"].items() <= spec["template"]["metadata"]["labels"].items()
args = executor["template"]["spec"]["containers"][0]["args"][0]
assert '--advertise "$POD_NAME.ember-executor"' in args and "--driver ember-driver:7077" in args
print("PASSED: the manifests render and validate")
PY
