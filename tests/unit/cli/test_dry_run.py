"""``run --dry-run``: the plan and the files the front end decides, with no host touched."""

from __future__ import annotations

import yaml

from tests.unit.cli.test_cli import ctx, sr  # noqa: F401 (fixtures)

CLUSTERFILE = """\
apiVersion: sealer.io/v2
kind: Cluster
metadata: {{name: demo}}
spec:
  image: {image}
  ssh: {{passwd: do-not-leak-this}}
  hosts:
    - {{ips: [10.0.0.2], roles: [master]}}
    - {{ips: [10.0.0.3, 10.0.0.4], roles: [node]}}
"""


def _no_host(monkeypatch):
    from sealer_runner.cli import run_cmd

    def touched(*args, **kwargs):
        raise AssertionError("a dry run touched a host")

    monkeypatch.setattr(run_cmd, "run_playbook", touched)
    monkeypatch.setattr(run_cmd, "_pre_checks", touched)


def test_a_kubernetes_dry_run_writes_each_hosts_kubeadm_config_and_prints_the_plan(sr, tmp_path, monkeypatch):  # noqa: F811
    _no_host(monkeypatch)
    image = tmp_path / "k8s"
    image.mkdir()
    (image / "Kubefile").write_text("FROM scratch\nLABEL cluster.alpha.sealer.io/cluster-runtime-type=kubernetes "
                                    "cluster.alpha.sealer.io/cluster-runtime-version=v1.30.2\nCOPY f f\n")
    (image / "f").write_text("x\n")
    assert sr("build", "-t", "k8s:v1", str(image))[0] == 0
    cf = tmp_path / "Clusterfile"
    cf.write_text(CLUSTERFILE.format(image="k8s:v1"))
    out = tmp_path / "plan"
    rc, stdout, err = sr("run", "-f", str(cf), "--dry-run", "--output-dir", str(out))
    assert rc == 0, err
    assert "no host was touched" in err
    lines = stdout.splitlines()
    kube = next(i for i, line in enumerate(lines) if "Kubernetes" in line)
    assert lines[kube + 1].strip() == "hosts: 10.0.0.2, 10.0.0.3, 10.0.0.4" and "kubernetes" in lines[kube + 2]
    assert stdout.index("Validate inputs") < stdout.index("Deliver the image's rootfs") < stdout.index("Kubernetes")

    init = {d["kind"]: d for d in yaml.safe_load_all((out / "10.0.0.2/etc/kubernetes/kubeadm.yaml").read_text())}
    assert init["InitConfiguration"]["localAPIEndpoint"]["advertiseAddress"] == "10.0.0.2"
    assert init["ClusterConfiguration"]["controlPlaneEndpoint"] == "apiserver.cluster.local:6443"
    for node in ("10.0.0.3", "10.0.0.4"):
        join = {d["kind"]: d for d in yaml.safe_load_all((out / node / "etc/kubernetes/kubeadm.yaml").read_text())}
        token = join["JoinConfiguration"]["discovery"]["bootstrapToken"]
        assert token["apiServerEndpoint"] == "10.103.97.2:6443", "nodes join through the VIP"
        assert token["token"].startswith("<issued by kubeadm init")
        assert "controlPlane" not in join["JoinConfiguration"]
    extravars = (out / "_controller/extravars.yml").read_text()
    assert "sealer_kube_init_config" in extravars
    for path in out.rglob("*"):
        if path.is_file():
            assert b"do-not-leak-this" not in path.read_bytes(), path
            assert path.stat().st_mode & 0o777 == 0o600


def test_without_a_cluster_runtime_the_kubernetes_phase_is_shown_skipped(sr, ctx, tmp_path, monkeypatch):  # noqa: F811
    _no_host(monkeypatch)
    assert sr("build", "-t", "apps:v1", str(ctx))[0] == 0
    cf = tmp_path / "Clusterfile"
    cf.write_text(CLUSTERFILE.format(image="apps:v1"))
    rc, stdout, err = sr("run", "-f", str(cf), "--dry-run", "--output-dir", str(tmp_path / "plan"), "--tags", "rootfs")
    assert rc == 0, err
    lines = stdout.splitlines()
    kube = next(i for i, line in enumerate(lines) if "Kubernetes" in line)
    assert "skipped: the cluster runtime is none" in lines[kube + 1]
    prepare = next(i for i, line in enumerate(lines) if "Prepare hosts" in line)
    assert "skipped: left out by --tags" in lines[prepare + 1]
    rootfs = next(i for i, line in enumerate(lines) if "Deliver the image's rootfs" in line)
    assert lines[rootfs + 1].strip() == "hosts: 10.0.0.2, 10.0.0.3, 10.0.0.4"
    assert not list((tmp_path / "plan").glob("10.0.0.*")), "no kubeadm config without Kubernetes"
