"""``pull`` from a hostile registry: every answer is bounded and checked; credentials stay home."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from sealer_runner.cli.main import main
from sealer_runner.errors import InputError, RegistryAnswerError, RegistryError
from sealer_runner.image.digest import Digest
from sealer_runner.image.reference import parse_reference
from sealer_runner.image.store import Store
from sealer_runner.image.types import MT_OCI_LAYER_GZIP, MT_OCI_MANIFEST
from sealer_runner.registry.auth import Credentials
from sealer_runner.registry.client import credentials_may_go_to
from sealer_runner.registry.config import RegistryConfig
from sealer_runner.registry.transfer import Registries, pull
from sealer_runner.util.secret import Secret
from tests.conftest import make_image
from tests.security.archives import config_for, digest, good_layer, manifest_for
from tests.security.layer_tars import gz, hard, reg
from tests.security.layer_tars import tar_of as layer_tar
from tests.support.hostile_registry import HostileRegistry, answer, bearer, endless, redirect

REPO = "evil/app"
MANIFEST_PATH = f"/v2/{REPO}/manifests/v1"
CAP_BYTES = 4 << 20


class _Auth:
    def __init__(self, credentials: Credentials | None = None) -> None:
        self.credentials = credentials

    def get(self, registry: str) -> Credentials | None:
        return self.credentials


ALICE = Credentials("alice", Secret("s3cret-pw"))


@pytest.fixture
def store(tmp_path: Path) -> Store:
    store = Store(tmp_path / "store")
    make_image(store, "keep:v1", [{"a": b"kept"}], tmp_path)
    return store


def _image(layer: bytes | None = None, layer_type: str = MT_OCI_LAYER_GZIP, config: bytes | None = None):
    layer = good_layer() if layer is None else layer
    config = config_for([layer]) if config is None else config
    return manifest_for(config, [(layer_type, layer)]), config, layer


def _routes(manifest: bytes, config: bytes, layer: bytes) -> dict:
    return {
        "/v2/": answer(200, b"{}"),
        MANIFEST_PATH: answer(200, manifest, {"Content-Type": MT_OCI_MANIFEST}),
        f"/v2/{REPO}/blobs/{digest(config)}": answer(200, config),
        f"/v2/{REPO}/blobs/{digest(layer)}": answer(200, layer),
    }


def _pull(store: Store, registry: HostileRegistry, credentials: Credentials | None = None):
    return pull(store, parse_reference(f"{registry.host}/{REPO}:v1"), Registries(RegistryConfig(), _Auth(credentials)))


def _state(store: Store):
    blobs = {p.name for p in (store.root / "oci" / "blobs" / "sha256").iterdir()}
    tmp = [p for p in (store.root / "tmp").rglob("*") if p.is_file() and not p.name.endswith(".lock")]
    return [str(i.reference) for i in store.list_images()], blobs, tmp


def _refused(store: Store, registry: HostileRegistry, match: str, credentials: Credentials | None = None,
             cls: type[Exception] = RegistryAnswerError) -> Exception:
    before = _state(store)
    with pytest.raises(cls, match=match) as info:
        _pull(store, registry, credentials)
    assert _state(store) == before, "a refused pull leaves the store (and tmp/) as it was"
    return info.value


def _cli_pull(store: Store, registry: HostileRegistry) -> int:
    return main(["-q", "--root", str(store.root), "pull", f"{registry.host}/{REPO}:v1"])


def test_answer_errors_are_input_errors():
    assert issubclass(RegistryAnswerError, RegistryError) and issubclass(RegistryAnswerError, InputError)
    assert RegistryAnswerError("x").exit_code == 2


def test_a_good_image_pulls(store):
    with HostileRegistry(_routes(*_image())) as registry:
        desc = _pull(store, registry)
    assert store.platform_manifests(desc)[0].platform.architecture == "amd64"


@pytest.mark.parametrize("manifest, match", [
    (json.dumps({"schemaVersion": 2, "config": "x", "layers": []}).encode(), "config: expected an object, got a string"),
    (json.dumps({"schemaVersion": 2, "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                                "digest": digest(b""), "size": 0}, "layers": {}}).encode(),
     "layers: expected a list, got an object"),
    (b"[" * 1200 + b"]" * 1200, "nested more than 64 levels"),
    (b'{"a":' * 1200 + b"1" + b"}" * 1200, "nested more than 64 levels"),
    (b"[1]", "expected a JSON object, got a list"),
])
def test_malformed_manifest_is_refused(store, manifest, match, capsys):
    with HostileRegistry({"/v2/": answer(200, b"{}"),
                          MANIFEST_PATH: answer(200, manifest, {"Content-Type": MT_OCI_MANIFEST})}) as registry:
        error = _refused(store, registry, match)
        assert f"{registry.host}/{REPO}:v1" in str(error), "the message names the reference"
        capsys.readouterr()
        assert _cli_pull(store, registry) == 2
        assert "error: cannot pull" in capsys.readouterr().err


@pytest.mark.parametrize("part", ["config", "layer"])
def test_unknown_media_types_are_refused(store, part):
    manifest, config, layer = _image()
    obj = json.loads(manifest)
    target = obj["config"] if part == "config" else obj["layers"][0]
    target["mediaType"] = "application/x-evil"
    with HostileRegistry({**_routes(manifest, config, layer),
                          MANIFEST_PATH: answer(200, json.dumps(obj).encode(),
                                                {"Content-Type": MT_OCI_MANIFEST})}) as registry:
        _refused(store, registry, "unsupported media type 'application/x-evil'")


@pytest.mark.parametrize("layer, match", [
    (b"not a tar at all" * 64, "gzip, but its media type|not a readable"),
    (b"\x1f\x8b" + b"junk" * 100, "not a readable gzip'd tar"),
])
def test_a_layer_that_is_not_a_tar_is_refused(store, layer, match):
    with HostileRegistry(_routes(*_image(layer))) as registry:
        _refused(store, registry, match)
    assert not store.has_blob(Digest(digest(layer)))


@pytest.mark.parametrize("members, match", [
    ([reg("../../../tmp/escape")], "a '..' component"),
    ([reg("a"), hard("etc/shadow", "../../../etc/shadow")], "hardlink target"),
])
def test_a_layer_breaking_the_layer_rules_is_refused_before_it_is_stored(store, members, match, capsys):
    layer = gz(layer_tar(members))
    with HostileRegistry(_routes(*_image(layer))) as registry:
        _refused(store, registry, f"refused by the layer rules: .*{match}")
        capsys.readouterr()
        assert _cli_pull(store, registry) == 2
        assert "refused by the layer rules" in capsys.readouterr().err
    assert not store.has_blob(Digest(digest(layer)))


def test_a_config_that_is_not_json_is_refused_before_it_is_stored(store):
    manifest, config, layer = _image(config=b"[1, 2]")
    with HostileRegistry(_routes(manifest, config, layer)) as registry:
        _refused(store, registry, "expected a JSON object, got a list")
    assert not store.has_blob(Digest(digest(config)))


def test_endless_manifest_is_cut_at_the_cap(store):
    with HostileRegistry({"/v2/": answer(200, b"{}"), MANIFEST_PATH: endless(headers={"Content-Type": MT_OCI_MANIFEST})
                          }) as registry:
        started = time.monotonic()
        _refused(store, registry, f"manifest: over the {CAP_BYTES}-byte cap")
        assert time.monotonic() - started < 10


def test_announced_oversize_manifest_is_refused_unread(store):
    big = b" " * (CAP_BYTES + 1)
    with HostileRegistry({"/v2/": answer(200, b"{}"), MANIFEST_PATH: answer(200, big)}) as registry:
        _refused(store, registry, f"{CAP_BYTES + 1} bytes is over the {CAP_BYTES}-byte cap")


def test_a_blob_longer_than_its_descriptor_is_dropped(store):
    """The descriptor says a few hundred bytes; the registry streams 64 MiB. At most size+1 are kept."""
    manifest, config, layer = _image()
    with HostileRegistry({**_routes(manifest, config, layer),
                          f"/v2/{REPO}/blobs/{digest(layer)}": endless()}) as registry:
        _refused(store, registry, f"longer than the {len(layer)} bytes its descriptor records")
    assert not store.has_blob(Digest(digest(layer)))


def test_a_blob_announced_longer_than_its_descriptor_is_refused_unread(store):
    manifest, config, layer = _image()
    with HostileRegistry({**_routes(manifest, config, layer),
                          f"/v2/{REPO}/blobs/{digest(layer)}": answer(200, layer + b"x" * 100)}) as registry:
        _refused(store, registry, f"announced as {len(layer) + 100} bytes, its descriptor says {len(layer)}")


def test_endless_error_body_is_bounded(store):
    with HostileRegistry({"/v2/": answer(200, b"{}"), MANIFEST_PATH: endless(404)}) as registry:
        started = time.monotonic()
        _refused(store, registry, "404", cls=RegistryError)
        assert time.monotonic() - started < 10


def test_endless_token_answer_is_bounded(store, tmp_path):
    with HostileRegistry() as registry:
        realm = f"{registry.url}/token"
        manifest, config, layer = _image()
        registry.routes.update({path: bearer(realm, route) for path, route in _routes(manifest, config, layer).items()})
        registry.routes["/token"] = endless()
        _refused(store, registry, "token service .* over the 1048576-byte cap")


def test_credentials_never_go_to_a_clear_text_realm_on_another_host(store):
    """The registry names a token service on another host over HTTP: with credentials, the pull is
    refused naming the realm, and the token service never sees an Authorization header."""
    with HostileRegistry({"/token": answer(200, b'{"token": "t0ken"}')}, address="127.0.0.2") as tokens, \
            HostileRegistry() as registry:
        realm = f"{tokens.url}/token"
        manifest, config, layer = _image()
        registry.routes.update({path: bearer(realm, route) for path, route in _routes(manifest, config, layer).items()})
        error = _refused(store, registry, f"refusing to send credentials to the token service {realm}", ALICE)
        assert "s3cret" not in str(error)
        assert all("Authorization" not in h for h in tokens.headers_for("/token"))
        # Anonymous: nothing to leak, the token is fetched and the pull goes through.
        _pull(store, registry)
        assert tokens.headers_for("/token") and all("Authorization" not in h for h in tokens.headers_for("/token"))


def test_credentials_go_to_a_realm_on_the_registrys_own_host(store):
    with HostileRegistry() as registry:
        realm = f"{registry.url}/token"
        manifest, config, layer = _image()
        registry.routes.update({path: bearer(realm, route) for path, route in _routes(manifest, config, layer).items()})
        registry.routes["/token"] = answer(200, b'{"token": "t0ken"}')
        _pull(store, registry, ALICE)
        assert all(h.get("Authorization", "").startswith("Basic ") for h in registry.headers_for("/token"))


def test_redirected_blob_gets_carry_no_credentials(store):
    """A blob GET redirected to another host (as to a CDN) must not carry the Authorization header."""
    manifest, config, layer = _image()
    with HostileRegistry({f"/cdn/{digest(layer)}": answer(200, layer)}, address="127.0.0.2") as cdn, \
            HostileRegistry() as registry:
        realm = f"{registry.url}/token"
        routes = _routes(manifest, config, layer)
        routes[f"/v2/{REPO}/blobs/{digest(layer)}"] = redirect(f"{cdn.url}/cdn/{digest(layer)}")
        registry.routes.update({path: bearer(realm, route) for path, route in routes.items()})
        registry.routes["/token"] = answer(200, b'{"token": "t0ken"}')
        _pull(store, registry, ALICE)
        assert cdn.headers_for(f"/cdn/{digest(layer)}"), "the blob came from the other host"
        assert all("Authorization" not in h for h in cdn.headers_for(f"/cdn/{digest(layer)}"))
    assert store.has_blob(Digest(digest(layer)))


@pytest.mark.parametrize("realm, registry, allowed", [
    ("https://auth.docker.io/token", "registry-1.docker.io", True),
    ("http://auth.docker.io/token", "registry-1.docker.io", False),
    ("http://127.0.0.1:9000/token", "127.0.0.1:5000", True),
    ("http://127.0.0.2:9000/token", "127.0.0.1:5000", False),
    ("http://REG.example.com/token", "reg.example.com", True),
    ("ftp://reg.example.com/token", "reg.example.com", False),
    ("http://reg.example.com.evil.com/token", "reg.example.com", False),
])
def test_credential_rule(realm, registry, allowed):
    assert credentials_may_go_to(realm, registry) is allowed
