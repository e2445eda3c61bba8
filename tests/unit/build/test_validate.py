"""Build-time validation of Kubernetes objects against the image's Kubernetes version (sealer_runner.build.validate).

The fixtures are shaped after real manifests (ingress-nginx, calico, kubernetes-dashboard of the
1.1x era and of today); the schema checks run kubernetes-validate's real, offline schemas.
"""

from __future__ import annotations

import io
import json
import tarfile
from importlib import resources

import pytest

from sealer_runner.build import validate
from sealer_runner.build.removed_apis import REMOVED_APIS, removal, served_since
from sealer_runner.build.validate import Target, check_object, objects_in, range_target, target_of
from sealer_runner.errors import BuildError
from sealer_runner.imagecache.collect import ImageContent
from sealer_runner.kubefile.plan import LABEL_CLUSTER_RUNTIME_VERSION, LABEL_SUPPORTED_KUBE_VERSION


def exact(text: str) -> Target:
    major, minor, patch = (int(n) for n in text.lstrip("v").split("."))
    return Target((major, minor, patch), (major, minor, patch), "test")


def problems(text: str, target: Target, file: str = "manifests/app.yaml", *, templated: bool = False):
    objects, bad = objects_in(text, file, templated=templated)
    return bad + validate.validate(objects, target).problems


PSP = """\
apiVersion: policy/v1beta1
kind: PodSecurityPolicy
metadata:
  name: restricted
  annotations:
    seccomp.security.alpha.kubernetes.io/allowedProfileNames: 'runtime/default'
spec:
  privileged: false
  allowPrivilegeEscalation: false
  requiredDropCapabilities: [ALL]
  volumes: [configMap, emptyDir, projected, secret, downwardAPI, persistentVolumeClaim]
  hostNetwork: false
  runAsUser: {rule: MustRunAsNonRoot}
  seLinux: {rule: RunAsAny}
  supplementalGroups:
    rule: MustRunAs
    ranges: [{min: 1, max: 65535}]
  fsGroup:
    rule: MustRunAs
    ranges: [{min: 1, max: 65535}]
"""

OLD_INGRESS = """\
apiVersion: extensions/v1beta1
kind: Ingress
metadata:
  name: kubernetes-dashboard
  namespace: kubernetes-dashboard
  annotations:
    kubernetes.io/ingress.class: nginx
    nginx.ingress.kubernetes.io/backend-protocol: HTTPS
spec:
  tls:
    - hosts: [dashboard.example.com]
      secretName: dashboard-tls
  rules:
    - host: dashboard.example.com
      http:
        paths:
          - path: /
            backend:
              serviceName: kubernetes-dashboard
              servicePort: 443
"""

# What a CNI app of today ships (calico-shaped, trimmed): every object valid from v1.25 on.
CALICO = """\
apiVersion: v1
kind: ServiceAccount
metadata:
  name: calico-node
  namespace: kube-system
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: calico-kube-controllers
  namespace: kube-system
  labels: {k8s-app: calico-kube-controllers}
spec:
  maxUnavailable: 1
  selector:
    matchLabels: {k8s-app: calico-kube-controllers}
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: ippools.crd.projectcalico.org
spec:
  group: crd.projectcalico.org
  names: {kind: IPPool, listKind: IPPoolList, plural: ippools, singular: ippool}
  preserveUnknownFields: false
  scope: Cluster
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              type: object
              properties:
                cidr: {type: string}
                natOutgoing: {type: boolean}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: calico-node
rules:
  - apiGroups: [""]
    resources: [pods, nodes, namespaces]
    verbs: [get]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: calico-node
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: calico-node}
subjects:
  - {kind: ServiceAccount, name: calico-node, namespace: kube-system}
---
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: calico-node
  namespace: kube-system
spec:
  selector:
    matchLabels: {k8s-app: calico-node}
  updateStrategy:
    type: RollingUpdate
    rollingUpdate: {maxUnavailable: 1}
  template:
    metadata:
      labels: {k8s-app: calico-node}
    spec:
      hostNetwork: true
      serviceAccountName: calico-node
      priorityClassName: system-node-critical
      tolerations:
        - {effect: NoSchedule, operator: Exists}
      containers:
        - name: calico-node
          image: docker.io/calico/node:v3.27.0
          env:
            - {name: DATASTORE_TYPE, value: kubernetes}
            - {name: CALICO_IPV4POOL_CIDR, value: 100.64.0.0/10}
          securityContext: {privileged: true}
          resources:
            requests: {cpu: 250m}
          livenessProbe:
            exec: {command: [/bin/calico-node, -felix-live]}
            periodSeconds: 10
          volumeMounts:
            - {mountPath: /lib/modules, name: lib-modules, readOnly: true}
      volumes:
        - name: lib-modules
          hostPath: {path: /lib/modules}
---
apiVersion: crd.projectcalico.org/v1
kind: IPPool
metadata:
  name: default-ipv4-ippool
spec:
  cidr: 100.64.0.0/10
  natOutgoing: true
"""


# ------------------------------------------------------------------ removed APIs


def test_psp_fails_on_1_25_naming_file_line_object_version_and_what_to_do():
    [problem] = problems(PSP, exact("v1.25.0"), "application/apps/psp/psp.yaml")
    assert problem.file == "application/apps/psp/psp.yaml"
    assert problem.line == 1 and problem.document == 1
    assert problem.obj == "PodSecurityPolicy/restricted"
    text = str(problem)
    assert text.startswith("application/apps/psp/psp.yaml:1 (document 1, PodSecurityPolicy/restricted): ")
    assert "policy/v1beta1 PodSecurityPolicy was removed in Kubernetes v1.25" in text
    assert "Pod Security Admission" in text and "nothing replaces it" in text


def test_psp_is_fine_on_1_24():
    assert problems(PSP, exact("v1.24.17")) == []


def test_extensions_ingress_fails_on_1_22_and_names_the_replacement_and_changes():
    [problem] = problems(OLD_INGRESS, exact("v1.22.0"))
    assert "extensions/v1beta1 Ingress was removed in Kubernetes v1.22" in problem.message
    assert "use networking.k8s.io/v1 (served since v1.19)" in problem.message
    assert "pathType" in problem.message and "service.name" in problem.message
    assert problem.obj == "Ingress/kubernetes-dashboard"
    assert problems(OLD_INGRESS, exact("v1.21.14")) == []


@pytest.mark.parametrize("api", REMOVED_APIS, ids=lambda a: f"{a.api_version}-{a.kinds[0]}-1.{a.removed_in}")
def test_every_row_of_the_table_fails_from_its_release_and_not_before(api):
    for kind in api.kinds:
        obj = objects_in(f"apiVersion: {api.api_version}\nkind: {kind}\nmetadata: {{name: x}}\n", "f.yaml")[0][0]
        before = exact(f"v1.{api.removed_in - 1}.9")
        assert check_object(obj, before) == []
        for minor in (api.removed_in, api.removed_in + 5):
            [problem] = check_object(obj, exact(f"v1.{minor}.0"))
            assert f"was removed in Kubernetes v1.{api.removed_in}" in problem.message
            assert ("use " in problem.message) == bool(api.replacements)


def test_the_replacement_offered_is_one_the_version_serves():
    flow = "apiVersion: flowcontrol.apiserver.k8s.io/v1beta2\nkind: FlowSchema\nmetadata: {name: x}\n"
    obj = objects_in(flow, "f.yaml")[0][0]
    [on_30] = check_object(obj, exact("v1.30.0"))
    assert "flowcontrol.apiserver.k8s.io/v1 (served since v1.29) or flowcontrol.apiserver.k8s.io/v1beta3" \
        in on_30.message
    [on_33] = check_object(obj, exact("v1.33.0"))  # v1beta3 is gone from v1.32 too
    assert "use flowcontrol.apiserver.k8s.io/v1 (served since v1.29)" in on_33.message
    assert "v1beta3 (served" not in on_33.message


def _served_gvks(minor: int) -> set[tuple[str, str]]:
    """(apiVersion, kind) of the non-alpha objects in kubernetes-validate's schemas of 1.*minor*."""
    root = resources.files("kubernetes_validate") / "kubernetes-json-schema" / f"v1.{minor}.0-local"
    meta = {"DeleteOptions", "WatchEvent", "Status", "APIGroup", "APIGroupList", "APIResourceList", "APIVersions",
            "Eviction", "Scale", "TokenRequest", "Binding"}
    out = set()
    for schema in root.iterdir():
        text = schema.read_text() if schema.name.endswith(".json") and not schema.name.startswith("_") else ""
        if "x-kubernetes-group-version-kind" not in text:
            continue
        for gvk in json.loads(text).get("x-kubernetes-group-version-kind", []):
            if "alpha" in gvk["version"] or gvk["kind"].endswith("List") or gvk["kind"] in meta:
                continue
            out.add((f"{gvk['group']}/{gvk['version']}".lstrip("/"), gvk["kind"]))
    return out


def test_the_table_matches_the_removals_in_the_schemas_of_every_release():
    """Each release's OpenAPI (kubernetes-validate, from 1.25) drops exactly the APIs the table says it removed."""
    minors = validate._schema_minors()
    assert minors  # from v1.25 in kubernetes-validate 1.37
    served = {minor: _served_gvks(minor) for minor in minors}
    for before, minor in zip(minors, minors[1:], strict=False):
        dropped = served[before] - served[minor]
        in_table = {(api.api_version, kind) for api in REMOVED_APIS if api.removed_in == minor for kind in api.kinds}
        assert dropped == in_table, f"v1.{minor}"
    for api in REMOVED_APIS:
        for kind in api.kinds:
            for replacement in api.replacements:
                for minor in minors:
                    if replacement.since <= minor and not ((later := removal(replacement.api_version, kind))
                                                           and later.removed_in <= minor):
                        assert (replacement.api_version, kind) in served[minor], (replacement, kind, minor)


def test_table_lookups():
    assert removal("policy/v1beta1", "PodSecurityPolicy").removed_in == 25
    assert removal("policy/v1", "PodDisruptionBudget") is None
    assert served_since("policy/v1", "PodDisruptionBudget") == 21
    assert served_since("networking.k8s.io/v1", "Ingress") == 19
    assert served_since("v1", "ConfigMap") is None


# ------------------------------------------------------------------ multi-document YAML, lines, lists


def test_multi_document_yaml_names_the_document_and_its_line():
    text = CALICO + "---\n" + PSP.replace("name: restricted", "name: calico-psp")
    [problem] = problems(text, exact("v1.30.2"))
    assert problem.document == 8
    assert problem.line == text.splitlines().index("apiVersion: policy/v1beta1") + 1
    assert problem.obj == "PodSecurityPolicy/calico-psp"


def test_objects_valid_for_the_version_pass_and_custom_resources_are_left_alone():
    objects, bad = objects_in(CALICO, "application/apps/calico/calico.yaml")
    assert bad == [] and len(objects) == 7
    result = validate.validate(objects, exact("v1.30.2"))
    assert result.problems == [] and result.objects == 7


def test_a_kind_list_is_checked_item_by_item():
    text = """\
apiVersion: v1
kind: List
items:
  - apiVersion: v1
    kind: ConfigMap
    metadata: {name: ok}
  - apiVersion: batch/v1beta1
    kind: CronJob
    metadata: {name: nightly}
"""
    [problem] = problems(text, exact("v1.27.3"))
    assert problem.obj == "CronJob/nightly" and problem.line == 7
    assert "use batch/v1 (served since v1.21)" in problem.message


def test_a_kubeconfig_is_not_an_object():
    kubeconfig = """\
apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://apiserver.cluster.local:6443"}}]
users: [{name: admin, user: {}}]
contexts: [{name: admin@c, context: {cluster: c, user: admin}}]
current-context: admin@c
"""
    assert problems(kubeconfig, exact("v1.30.2")) == []


def test_documents_that_are_not_objects_are_ignored():
    text = "# values\nreplicaCount: 2\n---\n---\n- a\n- b\n---\nkind: Thing\n"
    assert problems(text, exact("v1.30.0")) == []


# ------------------------------------------------------------------ schemas (kubernetes-validate)


DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: {replicas}
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
        - name: web
          image: nginx:1.25
          ports:
            - containerPort: 80
"""


def test_schema_violations_name_the_field_and_its_line():
    text = DEPLOYMENT.replace("{replicas}", '"two"')
    [problem] = problems(text, exact("v1.30.2"))
    assert problem.line == 7 and problem.obj == "Deployment/web"
    assert problem.message.startswith("spec.replicas: 'two' is not of type 'integer'")
    assert "schema of Kubernetes v1.30" in problem.message


def test_a_missing_required_field_is_named():
    text = DEPLOYMENT.replace("{replicas}", "2").replace("  selector:\n    matchLabels: {app: web}\n", "")
    [problem] = problems(text, exact("v1.29.0"))
    assert "'selector' is a required property" in problem.message


def test_a_long_schema_message_is_cut():
    text = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: " + "x" * 5000 + "\n"
    [problem] = problems(text, exact("v1.30.0"))
    assert problem.message.startswith("data: 'xxx") and len(problem.message) < 400 and "..." in problem.message


def test_a_kind_the_version_does_not_serve_fails():
    text = "apiVersion: batch/v2\nkind: Job\nmetadata: {name: x}\n"
    [problem] = problems(text, exact("v1.30.0"))
    assert "batch/v2 Job is not served by Kubernetes v1.30" in problem.message


def test_timestamps_stay_strings_as_the_api_server_reads_them():
    text = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  creationTimestamp: 2024-01-02T03:04:05Z\n"
    assert problems(text, exact("v1.30.0")) == []


def test_a_version_newer_than_the_schemas_uses_the_newest_and_says_so():
    objects, _ = objects_in(DEPLOYMENT.replace("{replicas}", "1"), "d.yaml")
    result = validate.validate(objects, exact("v1.99.0"))
    assert result.problems == []
    assert any("no API schemas for Kubernetes v1.99" in n for n in result.notes)


def test_versions_older_than_the_schemas_use_the_table_only():
    objects, _ = objects_in(DEPLOYMENT.replace("{replicas}", '"two"'), "d.yaml")
    result = validate.validate(objects, exact("v1.23.4"))
    assert result.problems == []
    assert any("removed-API table only" in n for n in result.notes)


# ------------------------------------------------------------------ templates and broken YAML


def test_tmpl_files_may_hold_run_time_variables():
    text = DEPLOYMENT.replace("{replicas}", "${REPLICAS}")
    assert problems(text, exact("v1.30.0"), "manifests/web.yaml.tmpl", templated=True) == []
    assert problems("apiVersion: v1\nkind: ${KIND}\n", exact("v1.30.0"), templated=True) == []


def test_a_manifest_that_is_not_yaml_is_named_but_a_template_is_not():
    broken = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [x\n"
    [problem] = problems(broken, exact("v1.30.0"))
    assert problem.message.startswith("not valid YAML") and problem.line >= 4
    assert problems(broken, exact("v1.30.0"), templated=True) == []
    assert problems("just: [text\n", exact("v1.30.0")) == []


def test_an_alias_bomb_is_refused_unexpanded_and_so_is_a_document_containing_itself():
    bomb = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata:\n  a: &a [" + ",".join(["x"] * 9) + "]\n"
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        bomb += f"  {name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]\n"  # 9**9 nodes once expanded
    [problem] = problems(bomb, exact("v1.30.0"))
    assert "expands to more than 1000000 YAML nodes" in problem.message
    recursive = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: &d {self: *d}\n"
    [problem] = problems(recursive, exact("v1.30.0"))
    assert "expands to more than" in problem.message
    shared = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: {a: &v one, b: *v}\n"
    assert problems(shared, exact("v1.30.0")) == []


def test_yaml_nested_deeper_than_the_parser_goes_is_a_problem_not_a_crash():
    deep = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata:\n  x: " + "[" * 5000 + "]" * 5000 + "\n"
    [problem] = problems(deep, exact("v1.30.0"))
    assert problem.message in ("not valid YAML: nested too deeply",  # PyYAML in Python
                               "not valid YAML: exceeded maximum nesting depth")  # libyaml


# ------------------------------------------------------------------ the version(s): label, kubeadm.yml, KUBEVERSION


KUBEADM = b"""\
apiVersion: kubeadm.k8s.io/v1beta3
kind: InitConfiguration
---
apiVersion: kubeadm.k8s.io/v1beta3
kind: ClusterConfiguration
kubernetesVersion: v1.26.15
"""


def test_target_precedence_label_then_kubeadm_yml_then_kubeversion():
    files = {"etc/kubeadm.yml": KUBEADM}
    labels = {LABEL_CLUSTER_RUNTIME_VERSION: "v1.30.2", LABEL_SUPPORTED_KUBE_VERSION: ">=1.20 <1.22"}
    assert target_of(labels, files).low == (1, 30, 2)
    del labels[LABEL_CLUSTER_RUNTIME_VERSION]
    by_kubeadm = target_of(labels, files)
    assert by_kubeadm.low == by_kubeadm.high == (1, 26, 15)
    assert by_kubeadm.source == "kubernetesVersion of etc/kubeadm.yml"
    by_range = target_of(labels, {})
    assert (by_range.low[:2], by_range.high[:2]) == ((1, 20), (1, 21))
    assert target_of({}, {}) is None


def test_a_bad_version_label_is_a_build_error():
    with pytest.raises(BuildError, match="cluster-runtime-version: not a Kubernetes version"):
        target_of({LABEL_CLUSTER_RUNTIME_VERSION: "latest"}, {})


def test_a_kubeversion_range_must_hold_for_its_newest_release():
    target = range_target(">=1.22 <1.26")
    assert (target.low[:2], target.high[:2]) == ((1, 22), (1, 25)) and not target.open_ended
    [problem] = problems(PSP, target)
    assert "removed in Kubernetes v1.25 and the image is for Kubernetes v1.22 to v1.25" in problem.message
    assert problems(PSP, range_target(">=1.21 <1.25")) == []


def test_an_open_ended_range_is_every_release_to_come():
    target = range_target(">=1.22")
    assert target.open_ended and target.render_version is None
    [problem] = problems(OLD_INGRESS.replace("extensions/v1beta1", "networking.k8s.io/v1beta1"), target)
    assert "v1.22 and later" in problem.message


def test_a_range_must_also_hold_for_its_oldest_release():
    pdb = "apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {name: x}\nspec: {maxUnavailable: 1}\n"
    [problem] = problems(pdb, range_target("1.19 - 1.24"))
    assert "policy/v1 PodDisruptionBudget is served only from Kubernetes v1.21" in problem.message
    assert "also for v1.19" in problem.message
    assert problems(pdb, range_target("^1.21")) == []


def test_a_range_admitting_nothing_is_an_error():
    with pytest.raises(BuildError, match="admits no Kubernetes 1.x release"):
        range_target("<1.0")


def test_the_rendering_version_of_a_target():
    assert exact("v1.30.2").render_version == "v1.30.2"
    assert range_target(">=1.22 <1.26").render_version.startswith("v1.25.")


# ------------------------------------------------------------------ the image's content


def test_image_objects_cover_yaml_files_and_skip_chart_sources():
    content = ImageContent({
        "manifests/psp.yaml": PSP.encode(),
        "manifests/web.yaml.tmpl": DEPLOYMENT.replace("{replicas}", "${R}").encode(),
        "application/apps/calico/calico.yaml": CALICO.encode(),
        "etc/kubeadm.yml": KUBEADM,
        "bin/kubectl": b"\x7fELF\x00\xff",
    }, [])
    objects, bad = validate.image_objects(content)
    assert bad == []
    assert sorted({o.file for o in objects}) == ["application/apps/calico/calico.yaml", "etc/kubeadm.yml",
                                                 "manifests/psp.yaml", "manifests/web.yaml.tmpl"]
    result = validate.validate(objects, exact("v1.26.15"))
    assert [p.file for p in result.problems] == ["manifests/psp.yaml"]
    assert "Kubernetes object(s) of the image would not work on Kubernetes v1.26.15" in str(result.error())
    assert "--skip-validation" in str(result.error())


def _tgz(files: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, text in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(text.encode())
            tar.addfile(info, io.BytesIO(text.encode()))
    return buf.getvalue()


def test_chart_kube_version_of_directories_and_archives():
    chart_yaml = "apiVersion: v2\nname: old\nversion: 1.0.0\nkubeVersion: '>=1.16.0-0 <1.22.0-0'\n"
    content = ImageContent({
        "application/apps/old/Chart.yaml": chart_yaml.encode(),
        "application/apps/old/templates/cm.yaml": b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n",
        "charts/old-1.0.0.tgz": _tgz({"old/Chart.yaml": chart_yaml, "old/charts/sub/Chart.yaml": "name: sub\n"}),
        "application/apps/any/any-1.0.tgz": _tgz({"any/Chart.yaml": "apiVersion: v2\nname: any\nversion: 1.0.0\n"}),
    }, [])
    found = validate.chart_problems(content, exact("v1.30.2"))
    assert [(p.file, p.line, p.obj) for p in found] == [
        ("application/apps/old/Chart.yaml", 4, "chart old"),
        ("charts/old-1.0.0.tgz (old/Chart.yaml)", 4, "chart old"),
    ]
    assert "requires Kubernetes >=1.16.0-0 <1.22.0-0 (its kubeVersion), which v1.30.2 is not" in found[0].message
    assert validate.chart_problems(content, exact("v1.21.14")) == []
    [ranged, _] = validate.chart_problems(content, range_target(">=1.20"))
    assert "which not all of Kubernetes v1.20 and later (KUBEVERSION >=1.20) are" in ranged.message


def test_a_range_within_one_minor_is_still_a_range():
    target = range_target(">1.25.3 <1.26")
    assert not target.exact and target.low == target.high == (1, 25, 4)
    assert target.describe() == "Kubernetes v1.25 (KUBEVERSION >1.25.3 <1.26)"
    assert range_target("<=1.25.3").render_version == "v1.25.0"  # each minor's lowest patch admitted
