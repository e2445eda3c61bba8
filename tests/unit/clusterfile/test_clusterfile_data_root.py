"""dataRoot reaches shell commands, systemd units and config files on every host: only a plain, normalised
absolute path is accepted, and a refusal names the file and line."""

from __future__ import annotations

import json

import pytest

from sealer_runner.clusterfile import load_clusterfile
from sealer_runner.errors import ClusterfileError

CLUSTERFILE = """\
apiVersion: sealer.io/v2
kind: Cluster
metadata:
  name: my-cluster
spec:
  image: kubernetes:v1.22.15
  dataRoot: {data_root}
  hosts:
    - ips: [192.168.0.2]
      roles: [master]
"""


def _load(data_root: str):
    return load_clusterfile(CLUSTERFILE.format(data_root=json.dumps(data_root)))


@pytest.mark.parametrize("data_root, why", [
    ("/x;touch /tmp/p;", "has characters other than letters, digits, '.', '_', '-' and '/': \" \" \";\""),
    ("/x;touch${IFS}/tmp/p", "has characters other than"),
    ("/data/$(id)", "has characters other than"),
    ("/data/`id`", "has characters other than"),
    ("/data/sealer dir", "has characters other than letters, digits, '.', '_', '-' and '/': \" \""),
    ("/data/'q'", "has characters other than"),
    ("/data/{{ x }}", "has characters other than"),
    ("/data/%i", "has characters other than"),
    ("/data/ünï", "has characters other than"),
    ("/data/../etc", "must not contain '..'"),
    ("/data/..", "must not contain '..'"),
    ("/data/sealer/", 'is not a normalised path (write "/data/sealer")'),
    ("/data//sealer", 'is not a normalised path (write "/data/sealer")'),
    ("/data/./sealer", 'is not a normalised path (write "/data/sealer")'),
    ("//data", 'is not a normalised path (write "/data")'),
    ("/data/a\nb", "is not an absolute path"),
    ("/data/a\tb", "is not an absolute path"),
    ("/data/a\x00b", "is not an absolute path"),
    ("data/sealer", "is not an absolute path"),
])
def test_a_bad_data_root_is_refused_naming_file_and_line(data_root, why):
    with pytest.raises(ClusterfileError) as info:
        _load(data_root)
    error = info.value
    assert (error.file, error.line) == ("Clusterfile", 7)
    assert str(error).startswith("Clusterfile:7: dataRoot: "), str(error)
    assert why in str(error), str(error)


@pytest.mark.parametrize("data_root", ["/var/lib/sealer/data", "/data", "/mnt/disk-1/sealer_data.v2", "/"])
def test_a_plain_absolute_data_root_is_kept_as_given(data_root):
    assert _load(data_root).cluster.data_root == data_root
