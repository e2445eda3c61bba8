"""User-, image- and host-supplied values reach Ansible as data, on a REAL booted host, every phase:
Jinja payloads (a lookup that touches a canary, statements, comments, Helm's Go templates) in the
Clusterfile's env, host env, annotations, Config data, plugin data and cmd, and in the image's ENV, LABEL,
APPENV, APPCMDS and plugins/*.yaml run nothing on the controller or on the host, and arrive byte for byte.
One host for the whole module (booting is slow). tests/security/test_template_safety_local.py is the fast
variant without a host."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from sealer_runner.cli.main import main as cli_main
from sealer_runner.image.store import Store
from tests.e2e.conftest import test_hosts_factory  # noqa: F401 - the e2e suite's host fixture, for this module
from tests.integration.test_run_local import build
from tests.support.base_image import build_base_image, missing_binaries

from .payloads import HELM, all_payloads, lookup, lookup_dq, statement
from .test_template_safety_local import image_files

pytestmark = [pytest.mark.e2e]
if missing_binaries():
    pytestmark.append(pytest.mark.skip(reason=f"missing {missing_binaries()} (run scripts/install.sh)"))

#: The same path on the controller and on the host: a payload that ran anywhere leaves it behind.
CANARY = Path(f"/tmp/sr-template-canary-{uuid.uuid4().hex[:12]}")
DATA_ROOT = "/var/lib/sealer/data"


@pytest.fixture(scope="module")
def host(test_hosts_factory):  # noqa: F811 - the imported fixture, by name
    with test_hosts_factory(1) as hosts:
        yield hosts[0]


def clusterfile(path: Path, image: str, ip: str, key: Path, *, data_root: str = DATA_ROOT,
                cmd: str | None = None) -> Path:
    value = all_payloads(CANARY)
    config_data = f"{HELM}\n{lookup(CANARY)}\n{statement(CANARY)}\n"
    shell = f"cat > clusterfile-plugin.out <<'EOF'\n{value}\nEOF\n"
    cmd_line = f"  cmd: [{json.dumps(cmd)}]\n" if cmd else ""
    path.write_text(
        "apiVersion: sealer.io/v2\nkind: Cluster\n"
        f"metadata:\n  name: safety\n  annotations: {{note: {json.dumps(value)}}}\n"
        f"spec:\n  image: {image}\n  dataRoot: {json.dumps(data_root)}\n  ssh: {{pk: {key}}}\n{cmd_line}"
        f"  env: [{json.dumps('CF_PAYLOAD=' + value)}]\n"
        f"  hosts:\n    - ips: [{ip}]\n      roles: [master]\n"
        f"      env: [{json.dumps('HOST_PAYLOAD=' + value)}]\n"
        "---\napiVersion: sealer.io/v2\nkind: Config\nmetadata: {name: helm-values}\n"
        f"spec:\n  path: etc/values.yaml\n  data: {json.dumps(config_data)}\n"
        "---\napiVersion: sealer.io/v2\nkind: Plugin\nmetadata: {name: cf-shell}\n"
        f"spec:\n  type: SHELL\n  action: pre-install\n  data: {json.dumps(shell)}\n")
    return path


def canaries(host) -> list[str]:
    found = [f"controller:{CANARY}"] if CANARY.exists() else []
    return found + ([f"{host.name}:{CANARY}"] if host.ssh(["test", "-e", str(CANARY)]).returncode == 0 else [])


def test_payloads_in_every_field_run_nothing_on_a_real_host_and_arrive_verbatim(tmp_path, host, capsys):
    root = tmp_path / "store"
    files = image_files(CANARY)
    files["Kubefile"] = files["Kubefile"].replace("FROM scratch", f"FROM {build_base_image(Store(root), tmp_path)}")
    build(Store(root), tmp_path / "ctx", files)
    cf = clusterfile(tmp_path / "Clusterfile", "example.com/local:v1", host.ip, host.key)

    assert cli_main(["--root", str(root), "run", "-f", str(cf)]) == 0, capsys.readouterr().err
    assert not canaries(host), "a payload was templated"
    value = all_payloads(CANARY)
    rootfs = f"{DATA_ROOT}/safety/rootfs"
    read = lambda rel: host.ssh(["cat", f"{rootfs}/{rel}"], check=True).stdout  # noqa: E731
    assert read("etc/values.yaml") == f"{HELM}\n{lookup(CANARY)}\n{statement(CANARY)}\n", "Config data"
    assert read("etc/app.conf") == f"img={value}\ncf={value}\nhost={value}\n", "image ENV, cluster env, host env"
    assert read("clusterfile-plugin.out") == value + "\n", "the Clusterfile's SHELL plugin"
    assert read("image-plugin.out") == value + "\n", "the image's plugins/shell.yaml"
    assert read("application/apps/web/app-env.out") == value, "APPENV, in the launch step's env"
    assert read("application/apps/web/app-literal.out") == lookup_dq(CANARY), "APPCMDS"
    assert host.ssh(["systemctl", "is-active", "containerd"]).stdout.strip() == "active", "every phase ran"

    # The Clusterfile's cmd replaces the image's launch: a second run, every phase again.
    cmd = f"printf '%s' '{lookup_dq(CANARY)}' > cmd.out; printf '%s' \"$CF_PAYLOAD\" > cmd-env.out"
    cf = clusterfile(tmp_path / "Clusterfile", "example.com/local:v1", host.ip, host.key, cmd=cmd)
    assert cli_main(["--root", str(root), "run", "-f", str(cf)]) == 0, capsys.readouterr().err
    assert read("cmd.out") == lookup_dq(CANARY) and read("cmd-env.out") == value, "the Clusterfile's cmd and env"
    assert not canaries(host), "a payload was templated"


@pytest.mark.parametrize("data_root", [f"/x;touch {CANARY};", "/data dir"])
def test_a_hostile_data_root_is_refused_before_any_host_is_touched(tmp_path, host, capsys, data_root):
    """sealer uses dataRoot as given, unquoted, in shell commands: only portable path characters are taken."""
    root = tmp_path / "store"
    build(Store(root), tmp_path / "ctx", {"Kubefile": "FROM scratch\nCOPY f f\n", "f": "x\n"})
    cf = clusterfile(tmp_path / "Clusterfile", "example.com/local:v1", host.ip, host.key, data_root=data_root)
    before = host.ssh("ls -a / /var/lib", check=True).stdout
    assert cli_main(["--root", str(root), "run", "-f", str(cf)]) == 2
    err = capsys.readouterr().err
    assert f"{cf}:8: dataRoot: " in err and "has characters other than letters, digits" in err, err
    assert not (root / "clusters" / "safety" / "runner").exists(), "nothing was prepared for Ansible"
    assert host.ssh("ls -a / /var/lib", check=True).stdout == before and not canaries(host)
