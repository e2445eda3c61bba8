#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: sealer_runner developers. Apache-2.0.

from __future__ import annotations

DOCUMENTATION = r"""
---
module: image_layer
short_description: Keep a host's cluster-image layers and make its rootfs equal to them
description:
  - Maintains a per-cluster layer store on the host (one verified file per layer digest) and makes a
    rootfs directory equal to an ordered list of layers, honouring OCI whiteouts.
  - C(state=query) reports which layers the host lacks, changing nothing; given I(rootfs), also what
    C(state=present) would do to it (C(action)), so a play can skip that task when nothing is to do.
  - C(state=fetched) downloads the missing layers from other hosts of the cluster (I(source_url), in order),
    verifying each digest; blobs uploaded into C(<store>/incoming/) (or I(incoming)) are verified and
    adopted first. A blob is hashed, written and untarred in one pass as it arrives, so applying it
    later only moves files into place.
  - C(state=present) applies the layers to I(rootfs). When the applied list is a prefix of I(layers)
    only the new layers are applied; otherwise the rootfs is rebuilt aside and swapped in, so files of
    layers no longer in the image disappear. A host already equal to I(layers) is left untouched.
  - Layers come from images nobody vouches for. A layer whose members would leave the rootfs (C(..) names,
    writes, whiteouts or hardlinks beneath a symlink or out of the root), or that holds device nodes,
    FIFOs or oversized tar headers, is refused whole, on arrival and again when applied; the module then
    fails naming the layer and the member. Mode bits, setuid and sticky included, are kept.
version_added: "0.1.0"
author: sealer_runner developers (!UNKNOWN)
options:
  layers:
    description:
      - The image's layers, in order, each a dict with at least C(digest) (C(sha256:...)); other keys
        (C(size), C(source)) are ignored.
    type: list
    elements: dict
    required: true
  store:
    description: Directory holding this cluster's layer blobs on the host.
    type: path
    required: true
  rootfs:
    description:
      - The rootfs directory to make equal to I(layers). Required for C(state=present); optional for
        C(state=query), which then reports the C(action) it would take.
    type: path
  source_url:
    description:
      - Base URLs serving layer blobs by hex digest, for C(state=fetched), tried in order; a source that
        cannot be reached, or fails, is left for the next.
    type: list
    elements: str
  wait:
    description:
      - Seconds to keep asking a source that answers 404 (it does not have the layer yet, being itself
        still fetching it in a tree fan-out) before trying the next source.
    type: int
    default: 0
  incoming:
    description:
      - Directory holding uploaded blobs named by hex digest, adopted (verified, then moved) by
        C(state=fetched) and C(state=present). Defaults to C(<store>/incoming).
    type: path
  state:
    description: What to ensure.
    type: str
    choices: [query, fetched, present]
    default: present
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying the target.
    support: full
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
"""

EXAMPLES = r"""
- name: Which layers does each host lack?
  sealer.cluster.image_layer:
    layers: "{{ sealer_layers }}"
    store: /var/lib/sealer/data/demo/layers
    rootfs: /var/lib/sealer/data/demo/rootfs
    state: query
  register: lacking

- name: Fetch them from master0
  sealer.cluster.image_layer:
    layers: "{{ sealer_layers }}"
    store: /var/lib/sealer/data/demo/layers
    source_url: ["http://{{ parent }}:5199", "http://{{ master0 }}:5199"]
    wait: 600
    state: fetched

- name: Make the rootfs equal to the image
  sealer.cluster.image_layer:
    layers: "{{ sealer_layers }}"
    store: /var/lib/sealer/data/demo/layers
    rootfs: /var/lib/sealer/data/demo/rootfs
"""

RETURN = r"""
missing:
  description: Digests of the layers the host lacked when the module started.
  returned: always
  type: list
  elements: str
fetched:
  description: Digests downloaded or adopted from the incoming directory by this run.
  returned: always
  type: list
  elements: str
python:
  description: The host's Python interpreter running this module (the upload action streams to it).
  returned: always
  type: str
  sample: /usr/bin/python3
action:
  description:
    - What was (or, in check mode or with state=query, would be) done to the rootfs - C(none),
      C(extend) (apply the new layers on top) or C(rebuild) (aside, then swapped in).
  returned: when state is present, or query with rootfs
  type: str
  sample: extend
"""

import sys

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.sealer.cluster.plugins.module_utils import _layers


def run(module):
    p = module.params
    layers = p["layers"]
    result = {"changed": False, "missing": _layers.missing(p["store"], layers), "fetched": [],
              "python": sys.executable}
    if p["state"] == "query":
        if p["rootfs"]:
            result["action"] = _layers.plan(p["rootfs"], [layer["digest"] for layer in layers])[0]
        return result
    if not module.check_mode:
        result["fetched"] += _layers.adopt_incoming(p["store"], p["incoming"])
    if p["state"] == "fetched":
        lacking = _layers.missing(p["store"], layers)
        if lacking and not p["source_url"]:
            raise _layers.LayerError("source_url is required to fetch %d missing layer(s)" % len(lacking))
        for digest in lacking:
            if not module.check_mode:
                try:
                    _layers.fetch(p["store"], p["source_url"], digest, wait=p["wait"])
                except _layers.LayerError:
                    _layers.mark_failed(p["store"])  # the hosts fetching from this one stop waiting
                    raise
            result["fetched"].append(digest)
    else:
        if not p["rootfs"]:
            raise _layers.LayerError("rootfs is required for state=present")
        digests = [layer["digest"] for layer in layers]
        action = _layers.plan(p["rootfs"], digests)[0]
        result["action"] = action if module.check_mode else _layers.apply(p["store"], p["rootfs"], digests)
    result["changed"] = bool(result["fetched"]) or result.get("action", "none") != "none"
    return result


def main():
    module = AnsibleModule(
        argument_spec=dict(
            layers=dict(type="list", elements="dict", required=True),
            store=dict(type="path", required=True),
            rootfs=dict(type="path"),
            source_url=dict(type="list", elements="str"),
            wait=dict(type="int", default=0),
            incoming=dict(type="path"),
            state=dict(type="str", choices=["query", "fetched", "present"], default="present"),
        ),
        supports_check_mode=True,
    )
    try:
        module.exit_json(**run(module))
    except _layers.LayerError as exc:
        module.fail_json(msg=str(exc))


if __name__ == "__main__":
    main()
