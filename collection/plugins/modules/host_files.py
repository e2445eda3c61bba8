#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: sealer_runner developers. Apache-2.0.

from __future__ import annotations

DOCUMENTATION = r"""
---
module: host_files
short_description: Make a set of directories and small files hold given content and modes, in one call
description:
  - Ensures every entry of I(directories) exists with its mode, then that every entry of I(files) holds
    its I(content) and mode (written atomically, beside the old file), or is absent.
  - One module call instead of one C(copy)/C(template) task per file; each Ansible task costs every
    host about a second, so a role's configuration goes in one round trip, and a re-run that finds
    everything in place takes that one round trip too.
  - File contents are never shown (they may hold keys or passwords); the paths that changed are.
  - Meant for configuration rendered on the controller (C(lookup('ansible.builtin.template', ...)),
    C(lookup('ansible.builtin.file', ...))), not for large files.
version_added: "0.1.0"
author: sealer_runner developers (!UNKNOWN)
options:
  directories:
    description: Directories to create (with their parents) and give I(mode).
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: Absolute path.
        type: path
        required: true
      mode:
        description: Octal mode, best quoted (C("0755")); an unquoted YAML C(0755) is taken as the number it is.
        type: raw
        default: "0755"
  files:
    description: Files to write or remove, in order (directories first).
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: Absolute path. Its directory is created (0755) when missing.
        type: path
        required: true
      content:
        description: The whole content (text). Required when I(state=present). Never logged.
        type: str
      mode:
        description: Octal mode, best quoted (C("0600")); an unquoted YAML C(0600) is taken as the number it is.
        type: raw
        default: "0644"
      state:
        description: C(present) writes I(content); C(absent) removes the file.
        type: str
        choices: [present, absent]
        default: present
  root:
    description:
      - Take every path inside this directory instead of C(/). C(sealer_runner run --dry-run) uses it to
        render each host's files on the controller (C(sealer.cluster.render)); empty (the default) is C(/).
      - A path that would leave I(root) is refused.
    type: path
    default: ""
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying the target.
    support: full
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
"""

EXAMPLES = r"""
- name: The registry's configuration, certificate and key in one call
  sealer.cluster.host_files:
    directories:
      - {path: /etc/sealer-registry, mode: "0700"}
    files:
      - {path: /etc/sealer-registry/config.yml, content: "{{ lookup('ansible.builtin.template', 'config.yml.j2') }}", mode: "0600"}
      - {path: /etc/sealer-registry/registry.key, content: "{{ lookup('ansible.builtin.file', key_path) }}\n", mode: "0600"}
      - {path: /etc/sealer-registry/htpasswd, state: absent}
  notify: Restart the registry
"""

RETURN = r"""
changed_paths:
  description: The directories and files created, rewritten, re-moded or removed (in check mode, that would be).
  returned: always
  type: list
  elements: str
  sample: [/etc/sealer-registry/config.yml]
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.sealer.cluster.plugins.module_utils import _hostfiles


def main():
    module = AnsibleModule(
        argument_spec=dict(
            directories=dict(type="list", elements="dict", default=[], options=dict(
                path=dict(type="path", required=True),
                mode=dict(type="raw", default="0755"),
            )),
            files=dict(type="list", elements="dict", default=[], options=dict(
                path=dict(type="path", required=True),
                content=dict(type="str", no_log=True),
                mode=dict(type="raw", default="0644"),
                state=dict(type="str", choices=["present", "absent"], default="present"),
            ), required_if=[("state", "present", ("content",))]),
            root=dict(type="path", default=""),
        ),
        supports_check_mode=True,
    )
    try:
        changed = _hostfiles.ensure_files(module.params["directories"], module.params["files"], module.check_mode,
                                          root=module.params["root"])
    except (_hostfiles.HostFileError, OSError) as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=bool(changed), changed_paths=changed)


if __name__ == "__main__":
    main()
