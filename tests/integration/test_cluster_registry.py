"""The cluster's registry, with real servers: the embedded registry role's htpasswd auth (its own tasks,
run by ansible-runner with a local connection into a temporary directory, then served by the real
docker-registry), and the push of cached images to an external registry."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import tomllib
from dataclasses import replace
from pathlib import Path

import bcrypt
import pytest
import urllib3

from sealer_runner.build.builder import Builder, BuildOptions
from sealer_runner.cli.main import main as cli_main
from sealer_runner.clusterfile import load_clusterfile
from sealer_runner.errors import AuthenticationError
from sealer_runner.image.digest import Digest
from sealer_runner.image.reference import parse_reference
from sealer_runner.image.store import Store
from sealer_runner.registry.auth import AuthStore, Credentials
from sealer_runner.registry.config import RegistryConfig
from sealer_runner.registry.transfer import Registries, TransferReporter, push
from sealer_runner.run.cluster import COLLECTION_DIR, build_request
from sealer_runner.run.external import push_for_cluster
from sealer_runner.run.runner import RunRequest, run
from sealer_runner.util.secret import Secret
from tests.support.registry import BINARY, RegistryServer, free_port, serve, stop

pytestmark = [pytest.mark.integration]
if not os.path.exists(BINARY):
    pytestmark.append(pytest.mark.skip(reason="docker-registry not installed (run scripts/install.sh)"))

PASSWORD = "do-not-leak-registry-pw"

CLUSTERFILE = """\
apiVersion: sealer.io/v2
kind: Cluster
metadata: {{name: local}}
spec:
  image: example.com/local:v1
  dataRoot: {data_root}
  hosts:
    - ips: [127.0.0.1]
      roles: [master]
  registry:
    localRegistry:
      domain: sea.hub
      port: {port}
      username: admin
      password: {password}
"""

# The registry role's own task files, imported as they are; the handler that would restart the
# systemd unit is a no-op here, and the test starts the registry itself.
# The real roles, with their argument specs and defaults, given the front end's variables. The hosts'
# rootfs does not exist yet: validate only checks, and the others stop at their first probe.
ROLES_PLAYBOOK = """\
- name: The roles that handle the registry, on the front end's variables
  hosts: all
  gather_facts: false
  roles:
    - role: sealer.cluster.validate
    - role: sealer.cluster.registry
    - role: sealer.cluster.container_runtime
"""

PLAYBOOK = """\
- name: Render the embedded registry's files
  hosts: registry
  gather_facts: false
  tags: [render]
  vars_files: [{role}/vars/main.yml]  # the files the role writes (its tasks and tasks/render.yml share them)
  vars: &vars
    sealer_rootfs: "{{{{ sealer_data_root }}}}/{{{{ sealer_cluster_name }}}}/rootfs"
    sealer_registry_config_dir: {config_dir}
    sealer_registry_listen_address: 127.0.0.1
  tasks:
    - name: The role's configuration tasks
      ansible.builtin.import_tasks: {role}/tasks/10-config.yml
  handlers:
    - name: Restart the registry
      ansible.builtin.debug: {{msg: the test serves the registry itself}}

- name: The role's readiness check
  hosts: registry
  gather_facts: false
  tags: [ready]
  vars: *vars
  tasks:
    - name: The role's readiness tasks
      ansible.builtin.import_tasks: {role}/tasks/30-ready.yml
"""


def build(store: Store, ctx: Path) -> None:
    ctx.mkdir(parents=True, exist_ok=True)
    (ctx / "f").write_text("x\n")
    (ctx / "Kubefile").write_text("FROM scratch\nCOPY f f\n")
    Builder(store).build(BuildOptions(ctx / "Kubefile", ctx, tags=("example.com/local:v1",)))


def registry_request(tmp_path: Path, store: Store, port: int, password: str, tags: tuple[str, ...]) -> RunRequest:
    text = CLUSTERFILE.format(data_root=tmp_path / "hosts", port=port, password=password)
    request = build_request(load_clusterfile(text), store, store.root, ssh_key=None)
    for hostvars in request.inventory["all"]["hosts"].values():
        hostvars["ansible_connection"] = "local"
        hostvars["ansible_python_interpreter"] = __import__("sys").executable
    project = tmp_path / "project"
    project.mkdir(exist_ok=True)
    if not (project / "templates").exists():  # the role's templates, found from the play's directory
        (project / "templates").symlink_to(COLLECTION_DIR / "roles" / "registry" / "templates")
    (project / "registry.yml").write_text(PLAYBOOK.format(config_dir=tmp_path / "etc-registry",
                                                          role=COLLECTION_DIR / "roles" / "registry"))
    return replace(request, project_dir=project, playbook="registry.yml", tags=tags)


def roles_accept(tmp_path: Path, request: RunRequest) -> None:
    project = tmp_path / "roles-project"
    project.mkdir(exist_ok=True)
    (project / "roles.yml").write_text(ROLES_PLAYBOOK)
    assert not (tmp_path / "hosts").exists(), "no rootfs: the roles cannot install anything"
    result = run(replace(request, project_dir=project, playbook="roles.yml", tags=()))
    assert result.ok, (result.failures, result.output_tail)
    assert result.changed == 0


def assert_no_clear_secret(private_dir: Path, *secrets: str) -> None:
    forms = set()
    for secret in secrets:
        forms |= {secret.encode(), base64.b64encode(secret.encode()),
                  base64.b64encode(f"admin:{secret}".encode())}
    checked = 0
    for path in private_dir.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            checked += 1
            for form in forms:
                assert form not in data, f"{path} holds a registry secret"
    assert checked > 5, "the private data dir and its artifacts were scanned"


def test_embedded_registry_requires_htpasswd_and_the_role_checks_the_credentials(tmp_path):
    store = Store(tmp_path / "store")
    build(store, tmp_path / "ctx")
    port = free_port()
    request = registry_request(tmp_path, store, port, PASSWORD, ("render",))
    roles_accept(tmp_path, request)
    extravars = request.extravars
    line = extravars["sealer_registry"]["htpasswd"]
    assert line.startswith("admin:$2") and bcrypt.checkpw(PASSWORD.encode(), line.split(":", 1)[1].encode())
    assert request.vault_password is not None

    first = run(request)
    assert first.ok, (first.failures, first.output_tail)
    config_dir = tmp_path / "etc-registry"
    assert (config_dir / "htpasswd").read_text() == line + "\n"
    assert oct((config_dir / "htpasswd").stat().st_mode & 0o777) == "0o600"
    config = (config_dir / "config.yml").read_text()
    assert f"path: {config_dir}/htpasswd" in config and f"addr: 127.0.0.1:{port}" in config
    written = (request.private_dir / "env" / "extravars").read_text()
    assert "'sealer_registry_password': !vault |" in written and "$ANSIBLE_VAULT;1.1;AES256" in written

    url = f"https://127.0.0.1:{port}/v2/"
    proc = serve(config_dir / "config.yml", tmp_path / "registry.log", url)
    try:
        pool = urllib3.PoolManager(ca_certs=extravars["sealer_registry"]["ca_cert"])  # the cluster CA
        assert pool.request("GET", url).status == 401
        good = urllib3.make_headers(basic_auth=f"admin:{PASSWORD}")
        assert pool.request("GET", url, headers=good).status == 200
        bad = urllib3.make_headers(basic_auth="admin:wrong")
        assert pool.request("GET", url, headers=bad).status == 401

        ready = run(replace(registry_request(tmp_path, store, port, PASSWORD, ("ready",)), verbosity=3))
        assert ready.ok, (ready.failures, ready.output_tail)

        # Another password in the Clusterfile, and the registry not reconfigured: the check says so.
        wrong = run(replace(registry_request(tmp_path, store, port, "another-secret-pw", ("ready",)), verbosity=3))
        assert not wrong.ok
        assert "refused the cluster's credentials" in str(wrong.failures[0]), wrong.failures
    finally:
        stop(proc)
    assert_no_clear_secret(request.private_dir, PASSWORD, "another-secret-pw")


def test_same_password_keeps_the_htpasswd_line_and_another_replaces_it(tmp_path):
    store = Store(tmp_path / "store")
    build(store, tmp_path / "ctx")
    lines = [registry_request(tmp_path, store, 5000, pw, ()).extravars["sealer_registry"]["htpasswd"]
             for pw in (PASSWORD, PASSWORD, "changed-pw")]
    assert lines[0] == lines[1], "a stable line: re-runs do not rewrite the hosts' htpasswd"
    assert lines[2] != lines[0] and bcrypt.checkpw(b"changed-pw", lines[2].split(":", 1)[1].encode())
    state = tmp_path / "store" / "clusters" / "local" / "pki" / "htpasswd"
    assert oct(state.stat().st_mode & 0o777) == "0o600"
    assert json.dumps(registry_request(tmp_path, store, 5000, PASSWORD, ()).inventory).find(PASSWORD) == -1


# --------------------------------------------------------------------------- containerd's files

# The container_runtime role's own configuration tasks, into a temporary directory; nothing restarts.
RUNTIME_PLAYBOOK = """\
- name: The container_runtime role's configuration tasks
  hosts: all
  gather_facts: false
  vars_files: [{role}/defaults/main.yml, {role}/vars/main.yml]
  tasks:
    - name: The role's configuration tasks, into a temporary directory
      ansible.builtin.import_tasks: {role}/tasks/20-config.yml
      vars:
        sealer_containerd_config_dir: {out}
  handlers:
    - name: Restart containerd
      ansible.builtin.debug: {{msg: no containerd is restarted here}}
"""

EXTERNAL_CLUSTERFILE = """\
apiVersion: sealer.io/v2
kind: Cluster
metadata: {{name: local}}
spec:
  image: example.com/local:v1
  dataRoot: {data_root}
  hosts:
    - ips: [127.0.0.1]
      roles: [master]
  registry:
    externalRegistry:
      domain: reg.example.com
"""


def render_runtime(tmp_path: Path, request: RunRequest) -> Path:
    """Run the role's configuration tasks (verbosely: what they log is checked) twice; the second changes nothing."""
    out = tmp_path / "etc-containerd"
    for hostvars in request.inventory["all"]["hosts"].values():
        hostvars["ansible_connection"] = "local"
        hostvars["ansible_python_interpreter"] = __import__("sys").executable
    project = tmp_path / "runtime-project"
    project.mkdir()
    role = COLLECTION_DIR / "roles" / "container_runtime"
    (project / "templates").symlink_to(role / "templates")
    (project / "runtime.yml").write_text(RUNTIME_PLAYBOOK.format(role=role, out=out))
    request.extravars["sealer_upstream_registries"] = ["docker.io", "quay.io"]
    request = replace(request, project_dir=project, playbook="runtime.yml", verbosity=3,
                      ansible_cfg=request.ansible_cfg + "\n[diff]\nalways = True\n")  # diffs show content
    first = run(request)
    assert first.ok and first.changed, (first.failures, first.output_tail)
    again = run(request)
    assert again.ok and again.changed == 0
    return out


def containerd_view(config: Path) -> str:
    """What containerd itself makes of the file (`containerd config dump` only parses it)."""
    if shutil.which("containerd") is None:
        return config.read_text()
    return subprocess.run(["containerd", "--config", str(config), "config", "dump"], capture_output=True, text=True,
                          check=True, timeout=60).stdout


def test_containerd_gets_the_embedded_registry_credentials_root_only(tmp_path):
    store = Store(tmp_path / "store")
    build(store, tmp_path / "ctx")
    request = registry_request(tmp_path, store, 5000, PASSWORD, ())
    out = render_runtime(tmp_path, request)
    config = tomllib.loads((out / "config.toml").read_text())
    registry = config["plugins"]["io.containerd.grpc.v1.cri"]["registry"]
    assert registry["config_path"] == f"{out}/certs.d"
    assert base64.b64decode(registry["configs"]["sea.hub:5000"]["auth"]["auth"]).decode() == f"admin:{PASSWORD}"
    assert oct((out / "config.toml").stat().st_mode & 0o777) == "0o600"
    assert '[plugins."io.containerd.grpc.v1.cri".registry.configs."sea.hub:5000".auth]' in containerd_view(
        out / "config.toml")
    hosts = tomllib.loads((out / "certs.d" / "quay.io" / "hosts.toml").read_text())
    assert hosts["server"] == "https://quay.io"
    assert hosts["host"]["https://sea.hub:5000/v2/quay.io"] == {"capabilities": ["pull", "resolve"],
                                                              "override_path": True}
    assert list(hosts["host"]) == ["https://sea.hub:5000/v2/quay.io"], "the embedded registry: HTTPS only"
    assert_no_clear_secret(request.private_dir, PASSWORD)


def test_external_registry_vars_take_kept_credentials_and_the_controllers_trust(tmp_path):
    store = Store(tmp_path / "store")
    build(store, tmp_path / "ctx")
    auth = AuthStore(tmp_path / "auth.json", docker_config=tmp_path / "none")
    auth.put("reg.example.com", Credentials("robot", Secret(PASSWORD)))
    ca = tmp_path / "corp-ca.crt"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    regs = Registries(RegistryConfig(insecure=frozenset({"reg.example.com"}), ca_file=str(ca)), auth)
    spec = load_clusterfile(EXTERNAL_CLUSTERFILE.format(data_root=tmp_path / "hosts"))
    request = build_request(spec, store, store.root, ssh_key=None, registries=regs)
    assert request.extravars["sealer_registry"] == {
        "external": True, "domain": "reg.example.com", "endpoint": "reg.example.com", "skip_verify": True,
        "plain_http": True, "ca_cert": str(ca), "username": "robot"}
    assert request.inventory["all"]["children"]["registry"]["hosts"] == {}, "no embedded registry runs"
    local = {h: {**v, "ansible_connection": "local", "ansible_python_interpreter": __import__("sys").executable}
             for h, v in request.inventory["all"]["hosts"].items()}
    roles_accept(tmp_path, replace(request, inventory={"all": {**request.inventory["all"], "hosts": local}}))
    out = render_runtime(tmp_path, request)
    registry = tomllib.loads((out / "config.toml").read_text())["plugins"]["io.containerd.grpc.v1.cri"]["registry"]
    assert base64.b64decode(registry["configs"]["reg.example.com"]["auth"]["auth"]) == f"robot:{PASSWORD}".encode()
    hosts = tomllib.loads((out / "certs.d" / "docker.io" / "hosts.toml").read_text())
    assert hosts["host"]["https://reg.example.com/v2/docker.io"]["skip_verify"] is True
    # insecure, as Docker has it: HTTPS unverified first, then the same registry over plain HTTP
    assert list(hosts["host"]) == ["https://reg.example.com/v2/docker.io", "http://reg.example.com/v2/docker.io"]
    assert hosts["host"]["http://reg.example.com/v2/docker.io"]["override_path"] is True
    assert_no_clear_secret(request.private_dir, PASSWORD)


# --------------------------------------------------------------------------- external registry push

def upstream(store: Store, tmp: Path, name: str, platforms: tuple[str, ...]) -> None:
    ctx = tmp / "upstream" / name.replace("/", "_").replace(":", "_")
    ctx.mkdir(parents=True)
    shutil.copy2(shutil.which("busybox") or "/bin/busybox", ctx / "busybox")
    (ctx / "Kubefile").write_text(f"FROM scratch\nCOPY busybox bin/busybox\nARG TARGETARCH\nRUN echo {name} > id\n")
    Builder(store).build(BuildOptions(ctx / "Kubefile", ctx, tags=(name,), platforms=platforms))


@pytest.fixture(scope="module")
def cluster_archive(tmp_path_factory):
    """A cluster image caching docker.io/library/busybox:1.36 (amd64 of a 2-platform index) and
    docker.io/library/redis:7 (a single manifest), saved as an archive: loaded elsewhere, its cached
    images' blobs exist only inside its registry/ layer."""
    tmp = tmp_path_factory.mktemp("cluster")
    src = Store(tmp / "upstream-store")
    regs = Registries(RegistryConfig(), AuthStore(tmp / "auth.json", docker_config=tmp / "none"))
    with RegistryServer(tmp / "docker-io") as hub:
        for name, platforms in (("library/busybox:1.36", ("linux/amd64", "linux/arm64")), ("library/redis:7", ())):
            upstream(src, tmp, f"example.com/{name}", platforms)
            push(src, src.lookup(f"example.com/{name}"), parse_reference(f"{hub.host}/{name}"), regs)
        ctx = tmp / "ctx"
        (ctx / "manifests").mkdir(parents=True)
        (ctx / "manifests" / "imageList").write_text("busybox:1.36\nredis:7\n")
        (ctx / "Kubefile").write_text("FROM scratch\nCOPY manifests manifests\n")
        root = tmp / "build-store"
        assert cli_main(["--root", str(root), "--registry-mirror", f"docker.io=http://{hub.host}", "-q", "build",
                         "--platform", "linux/amd64", "-t", "example.com/local:v1", str(ctx)]) == 0
    archive = tmp / "cluster.tar"
    assert cli_main(["--root", str(root), "-q", "save", "-o", str(archive), "example.com/local:v1"]) == 0
    return archive, cached_records(Store(root))


def cached_records(store: Store) -> dict[str, dict]:
    pm = store.platform_manifests(store.lookup("example.com/local:v1").descriptor)[0]
    return {r["image"]: r for r in json.loads(pm.manifest.annotations["sealer.image.container.images"])}


class Counting(TransferReporter):
    def __init__(self) -> None:
        self.sent, self.skipped = [], []

    def blob_done(self, digest, skipped):
        (self.skipped if skipped else self.sent).append(digest)


def skopeo(*args: str) -> bytes:
    return subprocess.run(["skopeo", *args], capture_output=True, check=True).stdout


@pytest.mark.skipif(shutil.which("skopeo") is None, reason="skopeo not installed")
def test_cached_images_go_to_the_external_registry_once(tmp_path, cluster_archive):
    archive, records = cluster_archive
    root = tmp_path / "controller"
    assert cli_main(["--root", str(root), "-q", "load", "-i", str(archive)]) == 0
    store = Store(root)
    busybox, redis = records["docker.io/library/busybox:1.36"], records["docker.io/library/redis:7"]
    assert not store.has_blob(Digest.parse(redis["blobs"][0])), "only the registry/ layer holds them"
    with RegistryServer(tmp_path / "harbor", users={"pusher": PASSWORD}) as external:
        text = EXTERNAL_CLUSTERFILE.format(data_root=tmp_path / "hosts").replace(
            "domain: reg.example.com", f"domain: 127.0.0.1\n      port: {external.port}")
        kept = AuthStore(root / "auth.json", docker_config=tmp_path / "none")
        regs = Registries(RegistryConfig(), kept)
        with pytest.raises(AuthenticationError):
            push_for_cluster(load_clusterfile(text), store, regs)

        spec = load_clusterfile(text + f"      username: pusher\n      password: {PASSWORD}\n")
        first = Counting()
        pushed = {p.source: p for p in push_for_cluster(spec, store, regs, first)}
        assert set(pushed) == set(records) and first.sent and not first.skipped
        assert pushed["docker.io/library/busybox:1.36"].destination == \
            f"{external.host}/docker.io/library/busybox:1.36"

        creds = ["--creds", f"pusher:{PASSWORD}", "--tls-verify=false"]
        base = f"docker://{external.host}/docker.io/library"
        raw = skopeo("inspect", "--raw", *creds, f"{base}/redis:7")
        assert str(Digest.of_bytes(raw)) == redis["digest"], "a single manifest keeps its digest"
        index = json.loads(skopeo("inspect", "--raw", *creds, f"{base}/busybox:1.36"))
        assert [m["digest"] for m in index["manifests"]] == busybox["manifests"], "only the cached platform"
        assert pushed["docker.io/library/busybox:1.36"].reduced and not pushed["docker.io/library/redis:7"].reduced
        info = json.loads(skopeo("inspect", *creds, "--override-arch", "amd64", f"{base}/busybox:1.36"))
        assert info["Architecture"] == "amd64"
        with pytest.raises(subprocess.CalledProcessError):
            skopeo("inspect", "--raw", "--tls-verify=false", f"{base}/redis:7")  # the registry wants credentials

        # Again, with the credentials `sealer_runner login` keeps: every blob is already there.
        kept.put(external.host, Credentials("pusher", Secret(PASSWORD)))
        again = Counting()
        repushed = push_for_cluster(load_clusterfile(text), store, regs, again)
        assert not again.sent and len(again.skipped) == len(first.sent)
        assert [p.digest for p in repushed] == [p.digest for p in pushed.values()]
