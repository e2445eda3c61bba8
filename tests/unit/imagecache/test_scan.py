import pytest

from sealer_runner.errors import InputError
from sealer_runner.imagecache.charts import values_from_commands
from sealer_runner.imagecache.scan import scan_image_list, scan_lines, scan_yaml


def test_every_image_field_with_its_line():
    text = """\
apiVersion: apps/v1
kind: Deployment
spec:
  template:
    spec:
      initContainers:
        - {name: a, image: "busybox:1.36"}
      containers:
        - name: b
          image: nginx:1.25
      ephemeralContainers:
        - name: c
          image: quay.io/x/debug:1
---
apiVersion: example.com/v1
kind: Widget
spec:
  image: registry.k8s.io/pause:3.9
  nested: {image: {repository: not-a-string}}
  templated: {image: "{{ .Values.image }}"}
"""
    found = [(u.image, u.where) for u in scan_yaml(text, "f.yaml")]
    assert sorted(found) == sorted([("busybox:1.36", "f.yaml:7"), ("nginx:1.25", "f.yaml:10"),
                                    ("quay.io/x/debug:1", "f.yaml:13"), ("registry.k8s.io/pause:3.9", "f.yaml:18")])


def test_invalid_yaml_falls_back_to_lines():
    text = "kind: Pod\nspec: [\n  image: nginx:1.25  # comment\n  - image: 'redis:7'\n  image: ${IMAGE}\n"
    assert [(u.image, u.where) for u in scan_yaml(text, "t.tmpl")] == [("nginx:1.25", "t.tmpl:3"),
                                                                          ("redis:7", "t.tmpl:4")]
    assert scan_lines("image:\n", "x") == []


def test_image_list_is_strict():
    assert [u.image for u in scan_image_list("# c\n\nnginx:1\n  quay.io/a/b:2  # why\n", "l")] == [
        "nginx:1", "quay.io/a/b:2"]
    with pytest.raises(InputError, match=r"^l:2: invalid reference"):
        scan_image_list("ok:1\nNOT VALID\n", "l")


def test_helm_values_from_launch_commands(tmp_path):
    (tmp_path / "prod.yaml").write_text("image: {tag: '2'}\nreplicas: 3\n")
    (tmp_path / "more.yaml").write_text("image: {repository: r}\n")
    cmds = ["kubectl create ns x", "helm install app . -f prod.yaml --values=more.yaml --set image.tag=9,a.b=c"]
    assert values_from_commands(cmds, tmp_path, "w") == {"image": {"tag": 9, "repository": "r"}, "replicas": 3,
                                                         "a": {"b": "c"}}


def test_yaml_nested_too_deeply_for_the_parser_is_scanned_by_lines():
    text = "image: nginx:1.25\nx: " + "[" * 5000 + "]" * 5000 + "\n"
    assert [u.image for u in scan_yaml(text, "deep.yaml")] == ["nginx:1.25"]
