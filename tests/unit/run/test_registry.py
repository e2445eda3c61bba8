"""The cluster's registry in the front end: validation with lines, credentials, htpasswd, the vars the
roles get, and the one-time vault that carries the password through the extra-vars file."""

from __future__ import annotations

import base64

import bcrypt
from ansible.parsing.vault import AnsibleVaultError
import pytest
import yaml

from sealer_runner.clusterfile import load_clusterfile
from sealer_runner.errors import ClusterfileError
from sealer_runner.registry.auth import AuthStore, Credentials, PinnedCredentials
from sealer_runner.registry.config import RegistryConfig
from sealer_runner.run.cluster import ClusterState, registry_vars
from sealer_runner.run.htpasswd import htpasswd_line, verifies
from sealer_runner.run.registry_access import check_registry, registry_credentials
from sealer_runner.run.runner import RunRequest, prepare
from sealer_runner.run.vault import OneTimeVault, VaultedText
from sealer_runner.util.secret import Secret

HEAD = """\
apiVersion: sealer.io/v2
kind: Cluster
metadata: {name: demo}
spec:
  image: example.com/c:v1
  hosts:
    - ips: [10.0.0.2]
      roles: [master]
"""


def spec(registry: str = ""):
    return load_clusterfile(HEAD + registry, "Clusterfile")


LOCAL_AUTH = """\
  registry:
    localRegistry:
      username: admin
      password: "s3cret:pw"
"""
EXTERNAL = """\
  registry:
    externalRegistry:
      domain: harbor.example.com
"""


def test_htpasswd_line_verifies_and_is_reused_while_the_password_holds(tmp_path):
    cache = tmp_path / "pki" / "htpasswd"
    line = htpasswd_line("admin", Secret("s3cret:pw"), cache)
    user, hashed = line.split(":", 1)
    assert user == "admin" and hashed.startswith("$2b$10$")
    assert bcrypt.checkpw(b"s3cret:pw", hashed.encode()) and not bcrypt.checkpw(b"other", hashed.encode())
    assert oct(cache.stat().st_mode & 0o777) == "0o600" and "s3cret" not in cache.read_text()
    assert htpasswd_line("admin", Secret("s3cret:pw"), cache) == line, "same password: same line, no host change"
    changed = htpasswd_line("admin", Secret("new"), cache)
    assert changed != line and verifies(changed, "admin", Secret("new"))
    renamed = htpasswd_line("root", Secret("new"), cache)
    assert renamed.startswith("root:") and not verifies(renamed, "admin", Secret("new"))
    cache.write_text("garbage")
    assert verifies(htpasswd_line("root", Secret("new"), cache), "root", Secret("new"))


@pytest.mark.parametrize("registry, message, line", [
    (LOCAL_AUTH + EXTERNAL.replace("  registry:\n", ""), "set localRegistry or externalRegistry, not both", 13),
    ("  registry:\n    localRegistry: {username: admin}\n", "username and password go together", 10),
    ("  registry:\n    externalRegistry:\n      domain: r.example.com\n      password: x\n",
     "externalRegistry: username and password go together", 10),
    ("  registry:\n    localRegistry: {username: 'a:b', password: x}\n", "must not contain ':'", 10),
    ("  registry:\n    localRegistry: {username: a, password: '" + "x" * 73 + "'}\n", "longer than 72 bytes", 10),
])
def test_registry_settings_a_run_cannot_honour_name_their_line(registry, message, line):
    with pytest.raises(ClusterfileError, match=message) as err:
        check_registry(spec(registry))
    assert err.value.line == line and str(err.value).startswith(f"Clusterfile:{line}: ")


def test_credentials_come_from_the_clusterfile_else_from_login_for_an_external_registry(tmp_path):
    kept = AuthStore(tmp_path / "auth.json", docker_config=tmp_path / "none")
    kept.put("harbor.example.com", Credentials("robot", Secret("kept-pw")))
    kept.put("sea.hub:5000", Credentials("x", Secret("y")))
    assert registry_credentials(spec(), kept) is None, "the embedded registry uses only the Clusterfile's"
    assert registry_credentials(spec(LOCAL_AUTH), kept) == Credentials("admin", Secret("s3cret:pw"))
    assert registry_credentials(spec(EXTERNAL), kept) == Credentials("robot", Secret("kept-pw"))
    own = spec(EXTERNAL + "      username: me\n      password: mine\n")
    assert registry_credentials(own, kept) == Credentials("me", Secret("mine"))
    pinned = PinnedCredentials("harbor.example.com", Credentials("me", Secret("mine")), kept)
    assert pinned.get("harbor.example.com").username == "me" and pinned.get("sea.hub:5000").username == "x"


def test_embedded_registry_vars(tmp_path):
    state = ClusterState(tmp_path, "demo")
    plain = registry_vars(spec().cluster, state)
    assert set(plain) == {"domain", "port", "endpoint", "hosts", "ca_cert", "cert", "key"}
    assert plain["endpoint"] == "sea.hub:5000" and plain["hosts"] == ["10.0.0.2"]
    cluster = spec(LOCAL_AUTH).cluster
    authed = registry_vars(cluster, state, credentials=Credentials("admin", Secret("s3cret:pw")))
    assert authed["username"] == "admin" and verifies(authed["htpasswd"], "admin", Secret("s3cret:pw"))
    assert "s3cret" not in yaml.safe_dump(authed)


def test_external_registry_vars(tmp_path):
    state = ClusterState(tmp_path, "demo")
    assert registry_vars(spec(EXTERNAL).cluster, state) == {
        "external": True, "domain": "harbor.example.com", "endpoint": "harbor.example.com", "skip_verify": False}
    ca = tmp_path / "ca.pem"
    ca.write_text("x")
    ported = spec(EXTERNAL + "      port: 8443\n").cluster
    out = registry_vars(ported, state, credentials=Credentials("robot", Secret("pw")),
                        config=RegistryConfig(ca_file=str(ca), insecure=frozenset({"harbor.example.com:8443"})))
    assert out == {"external": True, "domain": "harbor.example.com", "endpoint": "harbor.example.com:8443",
                   "port": 8443, "skip_verify": True, "plain_http": True, "ca_cert": str(ca), "username": "robot"}
    assert not (tmp_path / "clusters" / "demo" / "pki").exists(), "no CA or certificate for an external registry"
    v6 = load_clusterfile(HEAD + "  registry:\n    externalRegistry: {domain: 'fd00::5', port: 443}\n").cluster
    assert registry_vars(v6, state)["endpoint"] == "[fd00::5]:443"
    assert registry_vars(load_clusterfile(HEAD + "  registry:\n    localRegistry: {domain: 'fd00::5'}\n").cluster,
                         state)["endpoint"] == "[fd00::5]:5000"


def _vault_loader():
    loader = type("VaultLoader", (yaml.SafeLoader,), {})
    loader.add_constructor("!vault", lambda ldr, node: VaultedText(ldr.construct_scalar(node)))
    loader.add_constructor("!unsafe", lambda ldr, node: ldr.construct_scalar(node))  # every string (runner.py)
    return loader


def test_the_extravars_file_holds_the_password_only_vault_encrypted(tmp_path):
    vault = OneTimeVault.new()
    secret = Secret("s3cret:pw")
    request = RunRequest(private_dir=tmp_path / "runner", project_dir=tmp_path, playbook="run.yml", inventory={},
                         extravars={"sealer_registry": {"username": "admin"},
                                    "sealer_registry_password": vault.encrypt(secret)},
                         ansible_cfg="", collections_path=tmp_path, vault_password=vault.password)
    prepare(request)
    text = (tmp_path / "runner" / "env" / "extravars").read_text()
    assert "s3cret" not in text and base64.b64encode(b"s3cret:pw").decode() not in text
    assert "'sealer_registry_password': !vault |\n  $ANSIBLE_VAULT;1.1;AES256\n" in text  # keys are !unsafe too
    loaded = yaml.load(text, Loader=_vault_loader())
    assert vault.decrypt(loaded["sealer_registry_password"]) == secret
    assert not (tmp_path / "runner" / "env" / "passwords").exists()
    with pytest.raises(AnsibleVaultError):
        OneTimeVault.new().decrypt(loaded["sealer_registry_password"])  # another run's key opens nothing
    assert "s3cret" not in repr(vault) and vault.password.reveal() not in repr(request)
