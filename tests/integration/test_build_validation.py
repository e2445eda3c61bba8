"""``sealer_runner build`` through the CLI: a cluster image of one Kubernetes version, then an app image on
top of it whose packaged Helm chart (an archive, as charts are shipped) renders an API that version no
longer serves. The build fails before any container image is fetched; --skip-validation builds it.

The chart follows ingress-nginx 3.x (2020), which chose its Ingress API from .Capabilities and shipped
a PodSecurityPolicy behind a value.
"""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from sealer_runner.cli.main import main as cli_main

pytestmark = [pytest.mark.integration]

LABEL = "cluster.alpha.sealer.io/cluster-runtime-version"
CONTROLLER = "registry.k8s.io/ingress-nginx/controller:v0.46.0"

CHART = {
    "ingress-nginx/Chart.yaml": "apiVersion: v2\nname: ingress-nginx\nversion: 3.29.0\nappVersion: 0.46.0\n",
    "ingress-nginx/values.yaml": f"""\
controller:
  image: {CONTROLLER}
  admissionWebhooks: {{enabled: true}}
podSecurityPolicy:
  enabled: false
defaultBackend:
  ingress: {{enabled: true, host: default.example.com}}
""",
    "ingress-nginx/templates/_helpers.tpl": """\
{{- define "ingress.apiVersion" -}}
{{- if semverCompare ">=1.14-0" .Capabilities.KubeVersion.Version -}}
networking.k8s.io/v1beta1
{{- else -}}
extensions/v1beta1
{{- end -}}
{{- end -}}
""",
    "ingress-nginx/templates/controller-deployment.yaml": """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}-controller
spec:
  selector:
    matchLabels: {app.kubernetes.io/component: controller}
  template:
    metadata:
      labels: {app.kubernetes.io/component: controller}
    spec:
      containers:
        - name: controller
          image: {{ .Values.controller.image }}
          args: [/nginx-ingress-controller, --election-id=ingress-controller-leader]
          ports:
            - {name: http, containerPort: 80, protocol: TCP}
""",
    "ingress-nginx/templates/admission-webhooks/validating-webhook.yaml": """\
{{- if .Values.controller.admissionWebhooks.enabled }}
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata:
  name: {{ .Release.Name }}-admission
webhooks:
  - name: validate.nginx.ingress.kubernetes.io
    admissionReviewVersions: [v1, v1beta1]
    sideEffects: None
    failurePolicy: Fail
    rules:
      - apiGroups: [networking.k8s.io]
        apiVersions: [v1beta1]
        operations: [CREATE, UPDATE]
        resources: [ingresses]
    clientConfig:
      service: {namespace: {{ .Release.Namespace }}, name: {{ .Release.Name }}-admission, path: /networking/v1beta1/ingresses}
{{- end }}
""",
    "ingress-nginx/templates/default-backend-ingress.yaml": """\
{{- if .Values.defaultBackend.ingress.enabled }}
apiVersion: {{ include "ingress.apiVersion" . }}
kind: Ingress
metadata:
  name: {{ .Release.Name }}-default
spec:
  rules:
    - host: {{ .Values.defaultBackend.ingress.host }}
      http:
        paths:
          - path: /
            backend:
              serviceName: {{ .Release.Name }}-defaultbackend
              servicePort: 80
{{- end }}
""",
}


def chart_archive(path: Path) -> None:
    with tarfile.open(path, "w:gz") as tar:
        for name, text in sorted(CHART.items()):
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))


def sr(root: Path, *args: str) -> int:
    return cli_main(["--root", str(root), *args])


@pytest.fixture
def contexts(tmp_path) -> tuple[Path, Path]:
    base = tmp_path / "base"
    (base / "etc").mkdir(parents=True)
    (base / "etc" / "kubeadm.yml").write_text("apiVersion: kubeadm.k8s.io/v1beta3\nkind: ClusterConfiguration\n"
                                              "kubernetesVersion: v1.25.16\n")
    (base / "Kubefile").write_text(f"FROM scratch\nLABEL {LABEL}=v1.25.16\nCOPY etc etc\n")
    app = tmp_path / "app"
    app.mkdir()
    chart_archive(app / "ingress-nginx-3.29.0.tgz")
    (app / "ignored-images").write_text(f"{CONTROLLER}\n")
    (app / "Kubefile").write_text("FROM example.com/kubernetes:v1.25.16\n"
                                  "APP ingress local://ingress-nginx-3.29.0.tgz\nLAUNCH [\"ingress\"]\n")
    return base, app


def test_build_refuses_a_chart_rendering_a_removed_api_and_skip_validation_builds_it(tmp_path, contexts, capsys):
    base, app = contexts
    root = tmp_path / "store"
    assert sr(root, "build", "-t", "example.com/kubernetes:v1.25.16", str(base)) == 0
    capsys.readouterr()

    build_app = ("build", "--ignored-image-list", str(app / "ignored-images"), "-t", "example.com/ingress:v1")
    assert sr(root, *build_app, str(app)) == 2  # the image's inputs are at fault
    err = capsys.readouterr().err
    flat = " ".join(err.split())
    assert (f"1 Kubernetes object(s) of the image would not work on Kubernetes v1.25.16 (label {LABEL}=v1.25.16)"
            in flat)
    assert ("application/apps/ingress/ingress-nginx-3.29.0.tgz (rendered "
            "ingress-nginx/templates/default-backend-ingress.yaml):2 (document 1, Ingress/ingress-default): "
            "networking.k8s.io/v1beta1 Ingress was removed in Kubernetes v1.22; use networking.k8s.io/v1 "
            "(served since v1.19)" in flat)
    assert "--skip-validation" in flat and "Traceback" not in err
    assert sr(root, "inspect", "example.com/ingress:v1") != 0  # nothing was tagged
    capsys.readouterr()

    assert sr(root, *build_app, "--skip-validation", str(app)) == 0
    err = capsys.readouterr().err
    assert "Kubernetes objects not validated (--skip-validation)" in " ".join(err.split())
    assert sr(root, "inspect", "example.com/ingress:v1") == 0


def test_build_help_mentions_the_flag(capsys):
    assert cli_main(["build", "--help"]) == 0
    out = capsys.readouterr().out
    assert "--skip-validation" in out and "validated against the image's Kubernetes" in " ".join(out.split())
