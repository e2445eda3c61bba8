"""A host that loses power in the middle of delivery: the run fails naming it, and a re-run completes.

Also the happy path of password authentication (the other e2e tests use keys): layers are streamed
over the play's own SSH connection, which must carry the password too, and never show it.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sealer_runner.build.builder import Builder, BuildOptions
from sealer_runner.image.store import Store
from tests.support.artifacts import upload_methods

pytestmark = [pytest.mark.e2e]

PASSWORD = "Pa55-resume-4"
IMAGE = "example.com/e2e/resume:v1"
SR = str(Path(sys.executable).parent / "sealer_runner")
LAYERS = 3
LAYER_MB = 48


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("resume")
    ctx = tmp / "ctx"
    (ctx / "data").mkdir(parents=True)
    digests = {}
    for i in range(LAYERS):
        data = os.urandom(LAYER_MB << 20)  # incompressible: the upload takes long enough to be cut
        (ctx / "data" / f"part{i}.bin").write_bytes(data)
        digests[f"data/part{i}.bin"] = hashlib.sha256(data).hexdigest()
    (ctx / "Kubefile").write_text("FROM scratch\n" + "".join(f"COPY data/part{i}.bin data/\n" for i in range(LAYERS)))
    root = tmp / "store"
    Builder(Store(root)).build(BuildOptions(ctx / "Kubefile", ctx, tags=(IMAGE,)))
    return root, digests


def _allow_root_password(host) -> None:
    host.ssh(f"echo root:{PASSWORD} | chpasswd && printf 'PermitRootLogin yes\\nPasswordAuthentication yes\\n' "
             "> /etc/ssh/sshd_config.d/10-e2e-password.conf && systemctl reload ssh", check=True)


def _run(root: Path, clusterfile: Path, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([SR, "--root", str(root), "run", "--tags", "validate,rootfs", "-f", str(clusterfile)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


def _wait_for_partial_blob(store: Path, proc: subprocess.Popen, timeout: float = 180) -> Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"the run ended before the host was cut:\n{proc.communicate()}"
        for part in store.glob("*.part") if store.is_dir() else ():
            if part.stat().st_size > (4 << 20):
                return part
        time.sleep(0.05)
    pytest.fail("no layer upload seen on master0")


def _data_digests(host, cluster: str) -> dict[str, str]:
    rootfs = host.rootfs / "var/lib/sealer/data" / cluster / "rootfs"
    return {str(p.relative_to(rootfs)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted((rootfs / "data").glob("*"))}



def test_power_cut_during_upload_then_rerun_completes(tmp_path, image, test_hosts_factory):
    root, expected = image
    with test_hosts_factory(2) as hosts:
        for host in hosts:
            _allow_root_password(host)
        cf = tmp_path / "Clusterfile"
        cf.write_text(f"""\
apiVersion: sealer.io/v2
kind: Cluster
metadata: {{name: resume}}
spec:
  image: {IMAGE}
  ssh: {{passwd: '{PASSWORD}'}}
  hosts:
    - {{ips: [{hosts[0].ip}], roles: [master]}}
    - {{ips: [{hosts[1].ip}], roles: [node]}}
""")
        store = hosts[0].rootfs / "var/lib/sealer/data/resume/layers"
        proc = _run(root, cf)
        _wait_for_partial_blob(store, proc)
        hosts[0].stop(graceful=False)  # a power cut, mid-stream
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 1, out + err
        assert "run failed" in err and hosts[0].ip in err
        assert PASSWORD not in out + err

        hosts[0].start()
        rerun = _run(root, cf)
        out, err = rerun.communicate(timeout=600)
        assert rerun.returncode == 0, out + err
        for host in hosts:
            assert _data_digests(host, "resume") == expected, host.name
        assert not list(store.glob("*.part")), "the torn upload is replaced, not kept"
        assert not list((store / "unpacked").iterdir()), "unpacked layers are all moved into the rootfs"
        assert upload_methods(root, "resume") >= {"ssh-stream"}, "layers go over the play's SSH connection, password and all"

        again = _run(root, cf)
        out, err = again.communicate(timeout=300)
        assert again.returncode == 0 and ": 0 change(s)" in err, out + err
        assert PASSWORD not in out + err
        for path in (root / "clusters" / "resume").rglob("*"):
            if path.is_file():
                assert PASSWORD.encode() not in path.read_bytes(), path
