"""apply's plan (sealer_runner/run/plan.py): the desired Clusterfile against the applied state, host by host,
with the reasons for a re-run; what must be refused before anything runs."""

from __future__ import annotations

import pytest

from sealer_runner.clusterfile import load_clusterfile
from sealer_runner.errors import InputError
from sealer_runner.run.plan import JOIN, KEEP, LEAVE, RERUN, plan_cluster
from sealer_runner.run.state import applied_state, stripped_clusterfile

BASE = """\
apiVersion: sealer.io/v2
kind: Cluster
metadata: {{name: prod}}
spec:
  image: {image}
  ssh: {{passwd: s3cret}}
  env: [MODE={mode}]
  hosts:
    - {{ips: [10.0.0.2], roles: [master]}}
    - {{ips: [{nodes}], roles: [node]{labels}}}
---
apiVersion: sealer.io/v2
kind: Config
metadata: {{name: app}}
spec: {{path: etc/app.conf, data: "limit={limit}"}}
"""
DIGEST = "sha256:" + "a" * 64


def text(image="example.com/app:v1", mode="prod", nodes="10.0.0.3, 10.0.0.4", labels="", limit=1) -> str:
    return BASE.format(image=image, mode=mode, nodes=nodes, labels=labels, limit=limit)


def applied(source: str):
    """What the state keeps after a run of *source*: state.json's data and the stripped Clusterfile."""
    spec = load_clusterfile(source)
    state = applied_state(spec, {"sealer_image_digest": DIGEST, "sealer_cluster_runtime": "none"})
    return state, stripped_clusterfile(source, spec, "applied")


def plan(desired: str, before: str, digest: str = DIGEST):
    state, saved = applied(before)
    return plan_cluster(load_clusterfile(desired), desired, state, saved, image_digest=digest)


def actions(p) -> dict[str, str]:
    return {h.ip: h.action for h in p.hosts}


def test_the_same_cluster_has_nothing_pending_secrets_and_formatting_aside():
    same = plan(text().replace("passwd: s3cret", "passwd: other-secret"), text())
    assert not same.pending and set(actions(same).values()) == {KEEP} and same.rerun == ()
    assert "no change" in same.lines()[0]


def test_new_and_removed_hosts_join_and_leave_without_a_rerun_of_the_others():
    p = plan(text(nodes="10.0.0.3, 10.0.0.5", labels=", labels: {disk: ssd}"), text(labels=", labels: {disk: ssd}"))
    assert actions(p) == {"10.0.0.2": KEEP, "10.0.0.3": KEEP, "10.0.0.5": JOIN, "10.0.0.4": LEAVE}
    assert p.pending and [h.ip for h in p.joining] == ["10.0.0.5"] and [h.ip for h in p.leaving] == ["10.0.0.4"]
    assert p.to_json()["hosts"][2] == {"ip": "10.0.0.5", "roles": ["node"], "action": JOIN, "reasons": []}


@pytest.mark.parametrize(("desired", "digest", "reason"), [
    (text(image="example.com/app:v2"), DIGEST, "image example.com/app:v1 -> example.com/app:v2"),
    (text(), "sha256:" + "b" * 64, "is another build now"),
    (text(mode="staging"), DIGEST, "Cluster spec.env changed"),
    (text(limit=2), DIGEST, "Config app changed"),
    (text(labels=", labels: {disk: ssd}"), DIGEST, "Cluster spec.hosts[10.0.0.3] changed"),
    (text() + "---\napiVersion: sealer.io/v2\nkind: Plugin\nmetadata: {name: p}\n"
              "spec: {type: SHELL, action: post-install, data: date}\n", DIGEST, "Plugin p added"),
])
def test_other_changes_rerun_every_host_saying_why(desired, digest, reason):
    p = plan(desired, text(), digest)
    assert set(actions(p).values()) == {RERUN}
    assert any(reason in r for r in p.rerun), p.rerun
    assert any(reason in line for line in p.lines())


def test_a_joining_hosts_group_settings_are_the_joins_not_a_rerun():
    p = plan(text(nodes="10.0.0.3, 10.0.0.4") + "", text(nodes="10.0.0.3"))
    assert actions(p)["10.0.0.4"] == JOIN and p.rerun == ()


def test_refused_changes_name_the_hosts():
    with pytest.raises(InputError, match="10.0.0.3 changed between master and node"):
        plan(text().replace("[10.0.0.2]", "[10.0.0.2, 10.0.0.3]").replace("[10.0.0.3, 10.0.0.4]", "[10.0.0.4]"),
             text())
    with pytest.raises(InputError, match="master0 would change from 10.0.0.2 to 10.0.0.9"):
        plan(text().replace("[10.0.0.2]", "[10.0.0.9]"), text())
    with pytest.raises(InputError, match="is cluster other, the state is prod"):
        plan(text().replace("name: prod", "name: other"), text())


def test_a_host_that_lost_its_files_makes_every_host_run_again_and_an_unreachable_one_is_a_note():
    from sealer_runner.run.plan import probe_command, with_probe
    from sealer_runner.run.remote import HostOutput

    assert probe_command("/var/lib/sealer/data/", "prod") == "test -s /var/lib/sealer/data/prod/rootfs/.sealer-layers.json"
    assert probe_command("/srv/my data", "prod") == "test -s '/srv/my data/prod/rootfs/.sealer-layers.json'"
    now = plan(text(), text())
    assert not now.pending
    ips = [h.ip for h in now.hosts]
    assert len(ips) >= 3
    same = with_probe(now, [HostOutput(ip, (), 0) for ip in ips])
    assert not same.pending and same.rerun == ()
    lost = with_probe(now, [HostOutput(ips[0], (), 0), HostOutput(ips[1], (), 1),
                             *(HostOutput(ip, (), None, error="ssh: connect timed out\nmore") for ip in ips[2:])])
    assert lost.pending and {h.action for h in lost.hosts} == {RERUN}
    assert lost.rerun == (f"{ips[1]} lost its files (no rootfs/.sealer-layers.json in the cluster's data directory)",)
    assert [n for n in lost.notes if "could not be checked" in n] == \
        [f"{ip} (ssh: connect timed out) could not be checked" for ip in ips[2:]]
