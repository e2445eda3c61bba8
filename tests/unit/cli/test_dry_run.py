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
                                    "cluster.alpha.sealer.io/cluster-runtime-version=v1.30.2\nCOPY f f\n"
                                    "COPY f registry/docker/registry/v2/f\n")  # cached images: a registry runs
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
    assert out.stat().st_mode & 0o777 == 0o700
    for path in out.rglob("*"):
        if path.is_file():
            assert b"do-not-leak-this" not in path.read_bytes(), path
            assert b"PRIVATE KEY" not in path.read_bytes(), f"{path}: a private key in the rendering"

    # the files the roles write on each host, rendered from the roles' own variables and templates
    for host in ("10.0.0.2", "10.0.0.3", "10.0.0.4"):
        root = out / host
        assert "sea.hub" in (root / "etc/hosts").read_text()
        assert 'plugins."io.containerd.grpc.v1.cri".registry' in (root / "etc/containerd/config.toml").read_text()
        assert (root / "etc/containerd/config.toml").stat().st_mode & 0o777 == 0o600
        assert "kubelet" in (root / "etc/systemd/system/kubelet.service").read_text()
        assert "net.ipv4.ip_forward = 1" in (root / "etc/sysctl.d/99-sealer-demo.conf").read_text()
        assert "br_netfilter" in (root / "etc/modules-load.d/sealer-demo.conf").read_text()
        assert (root / "usr/local/share/ca-certificates/sealer-demo.crt").read_text().startswith("-----BEGIN CERT")
    # /etc/hosts: the master resolves the apiserver name to itself, nodes to the VIP
    assert "10.0.0.2 apiserver.cluster.local" in (out / "10.0.0.2/etc/hosts").read_text().splitlines()
    for node in ("10.0.0.3", "10.0.0.4"):
        assert "10.103.97.2 apiserver.cluster.local" in (out / node / "etc/hosts").read_text().splitlines()
        unit = (out / node / "etc/systemd/system/sealer-lvscare.service").read_text()
        assert "--vs 10.103.97.2:6443 --rs 10.0.0.2:6443" in unit
        assert (out / node / "usr/local/lib/sealer/lvscare.py").stat().st_mode & 0o777 == 0o755
    assert not (out / "10.0.0.2/etc/systemd/system/sealer-lvscare.service").exists(), "lvscare is for nodes only"
    # the registry runs on master0 only; its private key is a placeholder
    assert (out / "10.0.0.2/etc/systemd/system/sealer-registry.service").is_file()
    assert not (out / "10.0.0.3/etc/systemd/system/sealer-registry.service").exists()
    assert (out / "10.0.0.2/etc/sealer/registry/registry.key").read_text().startswith("<the registry TLS private key")
    for path in ("etc/containerd/config.toml", "etc/kubernetes/kubeadm.yaml", "etc/sealer/registry/config.yml"):
        assert (out / "10.0.0.2" / path).stat().st_mode & 0o777 == 0o600, path
    # every rendered file is listed
    for path in (out / "10.0.0.3").rglob("*"):
        if path.is_file():
            assert str(path.relative_to(out)) in err, path

    # a second dry run replaces the first (no stale file); a foreign non-empty directory is refused
    (out / "10.0.0.9").mkdir()
    assert sr("run", "-f", str(cf), "--dry-run", "--output-dir", str(out))[0] == 0
    assert not (out / "10.0.0.9").exists()
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me\n")
    rc, _, err = sr("run", "-f", str(cf), "--dry-run", "--output-dir", str(foreign))
    assert rc == 2 and "not an earlier dry run" in err and (foreign / "notes.txt").read_text() == "keep me\n"


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
