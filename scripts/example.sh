#!/usr/bin/env bash
# The main job on the bundled example: a whole offline delivery.
#
# 1. start a local registry that plays docker.io and quay.io (there is no route to the real ones here)
#    and fill it with stand-in images built from busybox-static;
# 2. build the base image (examples/base-runtime: containerd, runc and registry from Debian), then
#    examples/hello-cluster on it, which caches every container image its apps need, reaching the
#    upstreams only through --registry-mirror;
# 3. list, inspect, and save the image to an archive for an air-gapped site;
# 4. stop the upstream registry, boot 3 throwaway local hosts (systemd-nspawn) and run the image onto
#    them: master0's launch commands pull the apps' images by their plain names from the cluster;
# 5. Kubernetes: an app image on a Kubernetes base run with the kubeadm runtime onto 3 fresh hosts
#    (check --pre, run --dry-run, run, re-run, check --post, exec), then day 2 (cert --alt-names, delete
#    of a node, apply --plan, apply joining it again). kubeadm, kubelet, kubectl and crictl there are the
#    TEST STAND-INS of tests/support/kube_standins (no Kubernetes release can be had on this machine).
set -euo pipefail
cd "$(dirname "$0")/.."
export SEALER_RUNNER_ROOT=${SEALER_RUNNER_ROOT:-$PWD/.cache/store}
sr=.venv/bin/sealer_runner
mkdir -p .cache

port=$(.venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat > .cache/upstream.yml <<YAML
version: 0.1
log: {level: warn}
storage: {filesystem: {rootdirectory: $PWD/.cache/upstream}}
http: {addr: 127.0.0.1:$port}
YAML
/usr/bin/docker-registry serve .cache/upstream.yml > .cache/upstream.log 2>&1 &
registry_pid=$!
trap 'kill $registry_pid 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/v2/" >/dev/null 2>&1 && break; sleep 0.1; done

echo "==> local upstream registry on 127.0.0.1:$port, filled with stand-in images"
ctx=.cache/upstream-ctx
mkdir -p $ctx && cp examples/upstream/Kubefile $ctx/ && cp /bin/busybox $ctx/busybox
for image in library/nginx:1.25 example/hello:1.36; do
  $sr -q build --platform linux/amd64,linux/arm64 --build-arg NAME=$image -t 127.0.0.1:$port/$image $ctx >/dev/null
  $sr -q push 127.0.0.1:$port/$image >/dev/null
  $sr -q rmi 127.0.0.1:$port/$image >/dev/null
done

base=.cache/base-ctx
mkdir -p $base/bin && cp examples/base-runtime/Kubefile $base/
cp /usr/bin/containerd /usr/bin/containerd-shim-runc-v2 /usr/bin/ctr /usr/sbin/runc $base/bin/
cp /usr/bin/docker-registry $base/bin/registry
$sr -q build --platform linux/amd64 -t example.com/base/runtime:v1 $base >/dev/null

mirrors=(--registry-mirror docker.io=http://127.0.0.1:$port --registry-mirror quay.io=http://127.0.0.1:$port)
set -x
$sr "${mirrors[@]}" build -t example.com/hello-cluster:v1 examples/hello-cluster
$sr images
$sr inspect example.com/hello-cluster:v1
$sr save -o .cache/hello-cluster.tar example.com/hello-cluster:v1
{ set +x; } 2>/dev/null
kill $registry_pid; wait $registry_pid 2>/dev/null || true   # from here on, no upstream registry exists
.venv/bin/python examples/run_on_test_hosts.py example.com/hello-cluster:v1 --root "$SEALER_RUNNER_ROOT"
.venv/bin/python examples/kubernetes_on_test_hosts.py --root "$SEALER_RUNNER_ROOT"
