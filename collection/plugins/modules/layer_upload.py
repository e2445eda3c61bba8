#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: sealer_runner developers. Apache-2.0.
# The work is done by the action plugin of the same name (plugins/action/layer_upload.py), on the
# controller; this file documents it.

from __future__ import annotations

DOCUMENTATION = r"""
---
module: layer_upload
short_description: Deliver a host the cluster-image layers it lacks, from the controller or from its peers
description:
  - Asks the host which of I(layers) its layer store lacks (as C(sealer.cluster.image_layer state=query))
    and sends only those, from the files named by each layer's C(source) on the controller.
  - Over the OpenSSH connection each blob is streamed through the play's own SSH connection into a
    receiver on the host that hashes it, writes it and untars it in the same pass; nothing is kept
    unless the digest matches. This is about as fast as C(tar c | ssh host tar x).
  - Over other connections, or with privilege escalation, blobs are copied with the connection's
    C(put_file) into a temporary directory and verified and adopted by C(sealer.cluster.image_layer).
  - With I(source_url), the host fetches what it lacks from other hosts of the cluster instead (as
    C(sealer.cluster.image_layer state=fetched)). One task can so feed master0 from the controller and
    the other hosts from master0's tree at the same time; a host passes a layer on as soon as it has it.
  - When delivery to a host fails, a C(delivery.failed) marker is left in its store; its layer server
    then answers 410, and the hosts fetching from it fail at once instead of waiting I(wait) seconds.
  - A host that already has every layer is sent nothing and reports no change.
version_added: "0.1.0"
author: sealer_runner developers (!UNKNOWN)
options:
  layers:
    description: The image's layers, each a dict with C(digest) (C(sha256:...)) and C(source), the blob's path on the controller.
    type: list
    elements: dict
    required: true
  store:
    description: Directory holding this cluster's layer blobs on the host.
    type: path
    required: true
  source_url:
    description:
      - Base URLs of other hosts' layer servers, tried in order. When given, the host fetches from them
        rather than being sent the blobs from the controller; each layer's C(source) is then unused.
    type: list
    elements: str
  wait:
    description: With I(source_url), seconds to keep asking a source that does not have a layer yet.
    type: int
    default: 0
  query:
    description:
      - The result of C(sealer.cluster.image_layer state=query) registered for this host just before
        (its C(missing) and C(python)). Given, the host is not asked again which layers it lacks; a
        module run less. Ignored with I(source_url).
    type: dict
attributes:
  action:
    description: Indicates this has a corresponding action plugin so some parts of the options can be executed on the controller.
    support: full
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying the target.
    support: full
    details: Reports what would be sent.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
"""

EXAMPLES = r"""
- name: Send master0 the layers it lacks
  sealer.cluster.layer_upload:
    layers: "{{ sealer_layers }}"
    store: /var/lib/sealer/data/demo/layers
  when: inventory_hostname == sealer_master0

- name: The same task, with the other hosts fetching from master0 as it receives
  sealer.cluster.layer_upload:
    layers: "{{ sealer_layers }}"
    store: /var/lib/sealer/data/demo/layers
    source_url: "{{ [] if inventory_hostname == sealer_master0 else ['http://' ~ sealer_master0 ~ ':5199'] }}"
    wait: 300
"""

RETURN = r"""
uploaded:
  description: Digests sent to the host (in check mode, that would be sent).
  returned: always
  type: list
  elements: str
bytes:
  description: Bytes sent (in check mode, that would be sent).
  returned: always
  type: int
method:
  description: How they came, C(ssh-stream), C(put_file), C(fetch) (from I(source_url)), or C(none) when nothing was needed.
  returned: always
  type: str
fetched:
  description: With I(source_url), digests fetched from the other hosts.
  returned: when source_url is given
  type: list
  elements: str
"""
