"""``build`` refuses an image whose Kubernetes objects would not work on its Kubernetes version.

Real builds (the Builder, a real store, the real Helm engine rendering real-shaped charts); the
charts below follow the metrics-server and ingress-nginx charts of the 1.2x era, which rendered a
PodSecurityPolicy and picked their PodDisruptionBudget API from ``.Capabilities``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sealer_runner.build.builder import Builder, BuildOptions, BuildReporter
from sealer_runner.build.images import ImageCacheOptions
from sealer_runner.errors import BuildError, ImageContentError, ImageNotFound
from sealer_runner.image.store import Store
from sealer_runner.imagecache import collect
from sealer_runner.registry.auth import AuthStore
from sealer_runner.registry.config import RegistryConfig
from sealer_runner.registry.transfer import Registries
from tests.unit.build.test_validate import CALICO, OLD_INGRESS, PSP

LABEL = "cluster.alpha.sealer.io/cluster-runtime-version"


class Recorder(BuildReporter):
    def __init__(self):
        self.notes: list[str] = []
        self.warnings: list[str] = []

    def note(self, message):
        self.notes.append(message)

    def warning(self, message):
        self.warnings.append(message)


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def build(store: Store, ctx: Path, tag: str = "test/img:v1", **kw) -> Recorder:
    rec = Recorder()
    Builder(store, rec).build(BuildOptions(kubefile=ctx / "Kubefile", context=ctx, tags=(tag,), **kw))
    return rec


CHART = {
    "metrics-server/Chart.yaml": "apiVersion: v2\nname: metrics-server\nversion: 3.8.2\nappVersion: 0.6.1\n",
    "metrics-server/values.yaml": """\
image:
  repository: registry.k8s.io/metrics-server/metrics-server
  tag: v0.6.1
rbac:
  create: true
  pspEnabled: true
podDisruptionBudget:
  enabled: true
  minAvailable: 1
""",
    "metrics-server/templates/_helpers.tpl": """\
{{- define "metrics-server.fullname" -}}{{ .Release.Name }}-metrics-server{{- end -}}
{{- define "metrics-server.pdb.apiVersion" -}}
{{- if semverCompare "<1.21-0" .Capabilities.KubeVersion.Version -}}policy/v1beta1{{- else -}}policy/v1{{- end -}}
{{- end -}}
""",
    "metrics-server/templates/psp.yaml": """\
{{- if .Values.rbac.pspEnabled }}
apiVersion: policy/v1beta1
kind: PodSecurityPolicy
metadata:
  name: psp-{{ include "metrics-server.fullname" . }}
spec:
  allowedCapabilities: ['*']
  fsGroup: {rule: RunAsAny}
  privileged: false
  runAsUser: {rule: RunAsAny}
  seLinux: {rule: RunAsAny}
  supplementalGroups: {rule: RunAsAny}
  volumes: ['*']
{{- end }}
""",
    "metrics-server/templates/pdb.yaml": """\
{{- if .Values.podDisruptionBudget.enabled }}
apiVersion: {{ include "metrics-server.pdb.apiVersion" . }}
kind: PodDisruptionBudget
metadata:
  name: {{ include "metrics-server.fullname" . }}
spec:
  minAvailable: {{ .Values.podDisruptionBudget.minAvailable }}
  selector:
    matchLabels: {app.kubernetes.io/name: metrics-server}
{{- end }}
""",
    "metrics-server/templates/deployment.yaml": """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "metrics-server.fullname" . }}
spec:
  replicas: 1
  selector:
    matchLabels: {app.kubernetes.io/name: metrics-server}
  template:
    metadata:
      labels: {app.kubernetes.io/name: metrics-server}
    spec:
      containers:
        - name: metrics-server
          image: "{{ .Values.image.repository }}:{{ .Values.image.tag }}"
          args: [--secure-port=10250, --kubelet-preferred-address-types=InternalIP]
          ports:
            - {name: https, containerPort: 10250, protocol: TCP}
""",
}


def test_a_manifest_with_a_removed_api_fails_the_build_naming_it(store, tmp_path):
    ctx = write(tmp_path / "ctx", {
        "Kubefile": f"FROM scratch\nLABEL {LABEL}=v1.30.2\nCOPY manifests manifests\n",
        "manifests/calico.yaml": CALICO,
        "manifests/psp.yaml": "# restricted policy\n" + PSP,
    })
    with pytest.raises(ImageContentError) as err:
        build(store, ctx)
    assert isinstance(err.value, BuildError) and err.value.exit_code == 2  # bad input, not a failed step
    text = str(err.value)
    assert "1 Kubernetes object(s) of the image would not work on Kubernetes v1.30.2 " \
           f"(label {LABEL}=v1.30.2)" in text
    assert "manifests/psp.yaml:2 (document 1, PodSecurityPolicy/restricted): policy/v1beta1 PodSecurityPolicy " \
           "was removed in Kubernetes v1.25" in text
    assert "calico" not in text
    with pytest.raises(ImageNotFound):
        store.lookup("test/img:v1")  # nothing tagged


def test_skip_validation_builds_anyway_and_says_so(store, tmp_path):
    ctx = write(tmp_path / "ctx", {
        "Kubefile": f"FROM scratch\nLABEL {LABEL}=v1.30.2\nCOPY psp.yaml manifests/\n",
        "psp.yaml": PSP,
    })
    rec = build(store, ctx, skip_validation=True)
    assert rec.warnings == ["Kubernetes objects not validated (--skip-validation)"]
    assert store.lookup("test/img:v1")


def test_objects_valid_for_the_version_build_and_are_counted(store, tmp_path):
    ctx = write(tmp_path / "ctx", {
        "Kubefile": f"FROM scratch\nLABEL {LABEL}=v1.30.2\nCNI calico local://calico.yaml\nLAUNCH [\"calico\"]\n",
        "calico.yaml": CALICO,
    })
    rec = build(store, ctx)
    assert rec.warnings == []
    assert f"7 Kubernetes object(s) valid for Kubernetes v1.30.2 (label {LABEL}=v1.30.2)" in rec.notes


def test_a_chart_whose_template_renders_a_removed_api_fails(store, tmp_path):
    ctx = write(tmp_path / "ctx", {"Kubefile": f"FROM scratch\nLABEL {LABEL}=v1.26.3\n"
                                               "APP metrics local://metrics-server/\n", **CHART})
    with pytest.raises(BuildError) as err:
        build(store, ctx)
    text = str(err.value)
    assert "application/apps/metrics (rendered metrics-server/templates/psp.yaml):2 (document 1, " \
           "PodSecurityPolicy/psp-metrics-metrics-server): policy/v1beta1 PodSecurityPolicy was removed in " \
           "Kubernetes v1.25" in text
    assert "PodDisruptionBudget" not in text  # rendered for v1.26.3: policy/v1


def test_the_launch_values_that_turn_the_removed_api_off_make_it_pass(store, tmp_path):
    ctx = write(tmp_path / "ctx", {
        "Kubefile": f"FROM scratch\nLABEL {LABEL}=v1.26.3\nAPP metrics local://metrics-server/\n"
                    "APPCMDS metrics [\"helm install metrics . --set rbac.pspEnabled=false\"]\n", **CHART})
    rec = build(store, ctx)
    assert any(n.startswith("2 Kubernetes object(s) valid for Kubernetes v1.26.3") for n in rec.notes)


def test_charts_render_for_the_image_version(store, tmp_path):
    """On 1.20 the chart picks policy/v1beta1 for its PDB, which 1.20 serves (and still has PSP): valid."""
    ctx = write(tmp_path / "ctx", {"Kubefile": "FROM scratch\nKUBEVERSION >=1.19 <1.21\n"
                                               "APP metrics local://metrics-server/\n", **CHART})
    rec = build(store, ctx)
    assert any("valid for Kubernetes v1.19 to v1.20 (KUBEVERSION >=1.19 <1.21)" in n for n in rec.notes)


def test_the_version_of_the_base_image_applies_to_the_child(store, tmp_path):
    base = write(tmp_path / "base", {"Kubefile": f"FROM scratch\nLABEL {LABEL}=v1.22.17\nCOPY a.txt etc/\n",
                                     "a.txt": "x\n"})
    build(store, base, "test/kubernetes:v1.22.17")
    child = write(tmp_path / "child", {"Kubefile": "FROM test/kubernetes:v1.22.17\nAPP dashboard local://ing.yaml\n",
                                       "ing.yaml": OLD_INGRESS})
    with pytest.raises(BuildError, match=r"application/apps/dashboard/ing\.yaml:1 .*extensions/v1beta1 Ingress "
                                         r"was removed in Kubernetes v1\.22"):
        build(store, child, "test/dashboard:v1")


def test_the_version_in_etc_kubeadm_yml_applies(store, tmp_path):
    ctx = write(tmp_path / "ctx", {
        "Kubefile": "FROM scratch\nCOPY etc etc\nCOPY manifests manifests\n",
        "etc/kubeadm.yml": "apiVersion: kubeadm.k8s.io/v1beta3\nkind: ClusterConfiguration\n"
                           "kubernetesVersion: v1.25.16\n",
        "manifests/cron.yaml": "apiVersion: batch/v1beta1\nkind: CronJob\nmetadata: {name: backup}\n"
                               "spec:\n  schedule: '0 3 * * *'\n  jobTemplate: {spec: {template: {spec: "
                               "{containers: [{name: b, image: busybox}], restartPolicy: OnFailure}}}}\n",
    })
    with pytest.raises(BuildError, match=r"batch/v1beta1 CronJob was removed in Kubernetes v1\.25; use batch/v1"):
        build(store, ctx)


def test_an_image_naming_no_version_builds_and_says_so(store, tmp_path):
    ctx = write(tmp_path / "ctx", {"Kubefile": "FROM scratch\nCOPY psp.yaml manifests/\n", "psp.yaml": PSP})
    rec = build(store, ctx)
    assert rec.warnings == []  # sealer's own app Kubefiles rarely name a version: a note, not a warning
    assert rec.notes == ["1 Kubernetes object(s) not validated: the image names no Kubernetes version "
                         "(label cluster.alpha.sealer.io/cluster-runtime-version, kubernetesVersion in "
                         "etc/kubeadm.yml, or KUBEVERSION)"]


def test_an_image_without_objects_says_nothing(store, tmp_path):
    ctx = write(tmp_path / "ctx", {"Kubefile": "FROM scratch\nCOPY a.txt etc/\n", "a.txt": "x\n"})
    rec = build(store, ctx)
    assert rec.warnings == [] and rec.notes == []


def test_a_bad_version_label_fails_unless_validation_is_skipped(store, tmp_path):
    ctx = write(tmp_path / "ctx", {"Kubefile": f"FROM scratch\nLABEL {LABEL}=1.30\nCOPY a.txt etc/\n", "a.txt": "x\n"})
    with pytest.raises(BuildError, match="not a Kubernetes version: '1.30'"):
        build(store, ctx)
    build(store, ctx, skip_validation=True)


def test_charts_are_rendered_once_for_validation_and_the_image_scan(store, tmp_path, monkeypatch):
    calls = []
    real = collect.render

    def counting(chart, values, **kw):
        calls.append(kw.get("kube_version"))
        return real(chart, values, **kw)

    monkeypatch.setattr(collect, "render", counting)
    ctx = write(tmp_path / "ctx", {
        "Kubefile": f"FROM scratch\nLABEL {LABEL}=v1.26.3\nAPP metrics local://metrics-server/\n"
                    "APPCMDS metrics [\"helm install metrics . --set rbac.pspEnabled=false\"]\n",
        "ignored": "registry.k8s.io/metrics-server/metrics-server:v0.6.1\n", **CHART})
    images = ImageCacheOptions(Registries(RegistryConfig(), AuthStore(tmp_path / "auth.json",
                                                                      docker_config=tmp_path / "none")),
                               ignored_lists=(ctx / "ignored",))
    rec = Recorder()
    Builder(store, rec, images=images).build(BuildOptions(kubefile=ctx / "Kubefile", context=ctx, tags=("t/m:v1",)))
    assert calls == ["v1.26.3"]  # one chart, rendered once, for the image's version
    assert any(n.startswith("2 Kubernetes object(s) valid") for n in rec.notes)


def test_a_chart_whose_kube_version_refuses_the_image_version_fails(store, tmp_path):
    chart = dict(CHART)
    chart["metrics-server/Chart.yaml"] += 'kubeVersion: ">=1.27.0-0"\n'
    ctx = write(tmp_path / "ctx", {
        "Kubefile": f"FROM scratch\nLABEL {LABEL}=v1.26.3\nAPP metrics local://metrics-server/\n"
                    "APPCMDS metrics [\"helm install metrics . --set rbac.pspEnabled=false\"]\n", **chart})
    with pytest.raises(ImageContentError, match=r"application/apps/metrics/Chart\.yaml:5 \(document 1, chart "
                                                r"metrics-server\): the chart requires Kubernetes >=1\.27\.0-0 \(its "
                                                r"kubeVersion\), which v1\.26\.3 is not: helm would refuse"):
        build(store, ctx)
    chart["metrics-server/Chart.yaml"] = chart["metrics-server/Chart.yaml"].replace(">=1.27.0-0", ">=1.20.0-0")
    write(tmp_path / "ctx", chart)
    build(store, ctx)
