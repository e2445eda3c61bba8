"""The Clusterfile's ``hosts[].labels`` and ``hosts[].taints``, applied the way LABEL/TAINT plugins are.

sealer's Kubernetes runtime labels and taints each node after it joins. Until this runtime has its own,
each host group with labels or taints becomes one LABEL entry of ``sealer_plugins`` at ``post-install``
(after the apps, which may be what brings the cluster up): the plugins role applies it with
``sealer.cluster.kube_node`` through kubectl on master0. An image without a cluster runtime has no
nodes to change: that is an error before any host is touched, never a silent skip.
"""

from __future__ import annotations

import hashlib
from typing import Any

from ..clusterfile.models import Cluster
from ..errors import InputError

#: The phase host labels and taints are applied at.
PHASE = "post-install"


def host_meta_plugins(cluster: Cluster, filename: str, runtime: str) -> list[dict[str, Any]]:
    """``sealer_plugins`` entries for the host groups that carry labels or taints (none without any).

    Raises :class:`InputError` naming ``FILE:LINE`` when the image's cluster runtime is ``none``."""
    groups = [g for g in cluster.host_groups if (g.labels or g.taints) and g.ips]
    if groups and runtime == "none":
        group = groups[0]
        what = " and ".join(k for k, v in (("labels", group.labels), ("taints", group.taints)) if v)
        raise InputError(f"{filename}:{group.meta_line}: hosts[{group.index}].{what.split()[0]}: {what} need a "
                         f"Kubernetes cluster runtime, and image {cluster.image} has none (its cluster runtime is "
                         "none: no bin/kubeadm, no cluster.alpha.sealer.io/cluster-runtime-type label); remove them "
                         "or use an image with Kubernetes")
    out = []
    for group in groups:
        taints = [{"key": t.key, "value": t.value, "effect": t.effect} for t in group.taints]
        data = f"{sorted(group.labels.items())}\0{taints}\0{group.ips}"
        out.append({
            "name": f"hosts[{group.index}] labels and taints", "type": "LABEL", "phases": [PHASE], "scope": [],
            "data": "", "id": hashlib.sha256(data.encode()).hexdigest()[:24],
            "source": f"{filename}:{group.meta_line}",
            "targets": [{"ip": ip, "hostname": "", "labels": dict(group.labels), "taints": taints, "untaints": []}
                        for ip in group.ips],
        })
    return out
