import base64
import json

import pytest

from sealer_runner.errors import InputError
from sealer_runner.registry.auth import AuthStore, Credentials, parse_challenge
from sealer_runner.registry.config import RegistryConfig, is_loopback
from sealer_runner.util.secret import Secret


def test_mirrors_from_file_and_flags_flags_first(tmp_path):
    path = tmp_path / "registries.yaml"
    path.write_text("mirrors:\n  docker.io: ['https://mirror.corp:5000']\ninsecure: ['lab:5000']\n")
    config = RegistryConfig.load(path, mirrors=("docker.io=http://127.0.0.1:5001",))
    assert [str(e) for e in config.endpoints("docker.io")] == [
        "http://127.0.0.1:5001", "https://mirror.corp:5000", "registry-1.docker.io"]
    assert [str(e) for e in config.endpoints("quay.io")] == ["quay.io"]
    assert config.plain_http_allowed("lab:5000") and not config.verify_tls("lab:5000")
    assert not config.plain_http_allowed("quay.io") and config.verify_tls("quay.io")


@pytest.mark.parametrize("flag", ["docker.io", "docker.io=", "docker.io=ftp://x", "=http://x", "docker.io=http://h/p"])
def test_bad_mirror_flags(tmp_path, flag):
    with pytest.raises(InputError):
        RegistryConfig.load(tmp_path / "absent.yaml", mirrors=(flag,))


@pytest.mark.parametrize("host, expected", [
    ("localhost", True), ("localhost:5000", True), ("127.0.0.1", True), ("127.8.9.1:80", True),
    ("[::1]:5000", True), ("10.0.0.1:5000", False), ("registry.example.com", False), ("sea.hub:5000", False),
])
def test_loopback(host, expected):
    assert is_loopback(host) is expected


def test_challenge_parsing():
    c = parse_challenge('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
                        'scope="repository:library/nginx:pull"')
    assert c.scheme == "bearer"
    assert c.params == {"realm": "https://auth.docker.io/token", "service": "registry.docker.io",
                        "scope": "repository:library/nginx:pull"}
    assert parse_challenge('Basic realm="r"').scheme == "basic"
    assert parse_challenge("Negotiate") is None
    assert parse_challenge("") is None


def test_auth_store_is_private_docker_compatible_and_falls_back(tmp_path):
    docker = tmp_path / "docker.json"
    docker.write_text(json.dumps({"auths": {"quay.io": {"auth": base64.b64encode(b"bob:pw2").decode()}}}))
    store = AuthStore(tmp_path / "auth.json", docker_config=docker)
    store.put("docker.io", Credentials("alice", Secret("pw1")))
    assert (tmp_path / "auth.json").stat().st_mode & 0o777 == 0o600
    data = json.loads((tmp_path / "auth.json").read_text())
    assert list(data["auths"]) == ["https://index.docker.io/v1/"]
    assert store.get("docker.io").password.reveal() == "pw1"
    assert store.get("quay.io").username == "bob"
    assert store.get("ghcr.io") is None
    assert "pw1" not in repr(store.get("docker.io"))
    assert store.remove("docker.io") and not store.remove("docker.io")


def test_malformed_auth_entry_is_an_input_error(tmp_path):
    path = tmp_path / "auth.json"
    path.write_text(json.dumps({"auths": {"x.io": {"auth": base64.b64encode(b"no-colon").decode()}}}))
    with pytest.raises(InputError, match="malformed"):
        AuthStore(path, docker_config=tmp_path / "none").get("x.io")
