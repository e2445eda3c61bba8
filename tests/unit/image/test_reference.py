import pytest

from sealer_runner.errors import InvalidReference
from sealer_runner.image.reference import parse_reference

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    "text, full, familiar",
    [
        ("nginx", "docker.io/library/nginx:latest", "nginx:latest"),
        ("nginx:1.25", "docker.io/library/nginx:1.25", "nginx:1.25"),
        ("library/nginx", "docker.io/library/nginx:latest", "nginx:latest"),
        ("docker.io/nginx", "docker.io/library/nginx:latest", "nginx:latest"),
        ("index.docker.io/library/nginx:1", "docker.io/library/nginx:1", "nginx:1"),
        ("bitnami/redis:7", "docker.io/bitnami/redis:7", "bitnami/redis:7"),
        ("quay.io/coreos/etcd:v3.5", "quay.io/coreos/etcd:v3.5", "quay.io/coreos/etcd:v3.5"),
        ("localhost/app", "localhost/app:latest", "localhost/app:latest"),
        ("localhost:5000/a/b:c", "localhost:5000/a/b:c", "localhost:5000/a/b:c"),
        ("127.0.0.1:5000/x", "127.0.0.1:5000/x:latest", "127.0.0.1:5000/x:latest"),
        ("[::1]:5000/x:y", "[::1]:5000/x:y", "[::1]:5000/x:y"),
        (f"nginx@{DIGEST}", f"docker.io/library/nginx@{DIGEST}", f"nginx@{DIGEST}"),
        (f"nginx:1@{DIGEST}", f"docker.io/library/nginx:1@{DIGEST}", f"nginx:1@{DIGEST}"),
        ("Registry.Example.com/a_b/c-d.e__f:T_1", "Registry.Example.com/a_b/c-d.e__f:T_1",
         "Registry.Example.com/a_b/c-d.e__f:T_1"),
    ],
)
def test_normalises_like_docker(text, full, familiar):
    ref = parse_reference(text)
    assert str(ref) == full
    assert ref.familiar() == familiar


@pytest.mark.parametrize(
    "text, reason",
    [
        ("", "empty"),
        ("NGINX", "must be lowercase"),
        ("docker.io/Library/nginx", "must be lowercase"),
        ("nginx:", "invalid tag"),
        ("nginx:-bad", "invalid tag"),
        ("nginx@sha256:abc", "invalid digest"),
        ("a" * 64, "64-byte hexadecimal"),
        ("foo//bar", "invalid repository name"),
        ("foo/bar-", "invalid repository name"),
        ("-host.com/x", "invalid registry domain"),
        ("x.io/" + "a" * 260, "longer than"),
    ],
)
def test_rejects_invalid_with_reason(text, reason):
    with pytest.raises(InvalidReference, match=reason):
        parse_reference(text)


def test_tag_defaults_only_without_digest():
    assert parse_reference(f"nginx@{DIGEST}").tag is None
    assert parse_reference("nginx", default_tag=False).tag is None


def test_identifier_prefers_digest():
    assert parse_reference(f"a:b@{DIGEST}").identifier == DIGEST
    assert parse_reference("a:b").identifier == "b"


@pytest.mark.parametrize("text", ["nginx\n", "nginx:1\n", "a/b\n", f"nginx@{DIGEST}\n", "host.io\n/x"])
def test_trailing_newline_is_not_accepted(text):
    with pytest.raises(InvalidReference):
        parse_reference(text)
