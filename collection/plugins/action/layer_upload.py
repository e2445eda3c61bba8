# -*- coding: utf-8 -*-
# Copyright: sealer_runner developers. Apache-2.0.
"""Action for sealer.cluster.layer_upload: deliver the layer blobs a host lacks, each once.

From the controller (no ``source_url``): over OpenSSH each blob is streamed straight into the host's
``_layers.py receive``, which hashes, keeps and untars it in one pass. Over other connections, or
with privilege escalation, blobs go through ``put_file`` into a temporary directory and the
image_layer module adopts them. With ``source_url`` the host fetches them from other hosts of the
cluster instead (image_layer state=fetched), so one task feeds master0 and the fan-out tree at once.
"""

from __future__ import annotations

import os

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase
from ansible_collections.sealer.cluster.plugins.module_utils import _layers
from ansible_collections.sealer.cluster.plugins.plugin_utils import _ssh_stream

MODULE = "sealer.cluster.image_layer"


class ActionModule(ActionBase):
    TRANSFERS_FILES = True
    _VALID_ARGS = frozenset(("layers", "store", "source_url", "wait", "query"))
    _requires_connection = True

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        layers, store = self._task.args.get("layers"), self._task.args.get("store")
        if not isinstance(layers, list) or not store or not all(isinstance(layer, dict) for layer in layers):
            raise AnsibleActionFail("layers (a list of dicts) and store are required")
        if self._task.args.get("source_url"):
            return self._fetch(result, layers, store, task_vars)
        try:  # whatever stops the upload, the hosts fetching from this one must stop waiting too
            return self._upload(result, layers, store, task_vars)
        except Exception:
            self._mark_failed(store)
            raise

    def _upload(self, result, layers, store, task_vars):
        for layer in layers:
            if not layer.get("source"):
                raise AnsibleActionFail("every layer needs a digest and a source (the blob on the controller)")
            if not os.path.isfile(layer["source"]):
                raise AnsibleActionFail("layer %s: %s is not a file on the controller"
                                        % (layer.get("digest"), layer["source"]))
        query = self._task.args.get("query")
        if not (isinstance(query, dict) and isinstance(query.get("missing"), list) and query.get("python")):
            query = self._execute_module(MODULE, module_args={"layers": layers, "store": store, "state": "query"},
                                         task_vars=task_vars)
        if query.get("failed"):
            raise AnsibleActionFail(query.get("msg", "cannot ask the host which layers it lacks"))
        todo = [layer for layer in layers if layer["digest"] in set(query["missing"])]
        result.update(changed=bool(todo), uploaded=[layer["digest"] for layer in todo],
                      bytes=sum(os.path.getsize(layer["source"]) for layer in todo), method="none")
        if not todo or self._task.check_mode:
            return result
        if _ssh_stream.supported(self._connection, self._play_context):
            result["method"] = "ssh-stream"
            self._stream(todo, store, query["python"])
        else:
            result["method"] = "put_file"
            self._put(todo, store, task_vars)
        return result

    def _fetch(self, result, layers, store, task_vars):
        fetched = self._execute_module(MODULE, module_args={
            "layers": [{"digest": layer["digest"], "size": layer.get("size")} for layer in layers], "store": store,
            "source_url": self._task.args["source_url"], "wait": self._task.args.get("wait", 0),
            "state": "fetched"}, task_vars=task_vars)
        if fetched.get("failed"):
            return fetched
        result.update(changed=fetched.get("changed", False), fetched=fetched.get("fetched", []), uploaded=[],
                      bytes=0, method="fetch" if fetched.get("fetched") else "none")
        return result

    def _mark_failed(self, store):
        """Best effort (the host may be gone): the hosts fetching from this one stop waiting for it."""
        try:
            self._low_level_execute_command("mkdir -p %s && : > %s" % (
                self._connection._shell.quote(store),
                self._connection._shell.quote(self._connection._shell.join_path(store, _layers.FAILED))))
        except Exception:  # noqa: BLE001 - the upload's own error is the one to report
            pass

    def _stream(self, todo, store, python):
        with open(_layers.__file__, encoding="utf-8") as f:
            receiver = f.read()
        for layer in todo:
            try:
                _ssh_stream.run_with_file(self._connection, self._play_context,
                                          [python, "-c", receiver, "receive", store, layer["digest"]], layer["source"])
            except _ssh_stream.StreamError as exc:
                raise AnsibleActionFail("layer %s: %s" % (layer["digest"], exc)) from exc

    def _put(self, todo, store, task_vars):
        # the task's temporary directory (made by ActionBase for TRANSFERS_FILES; its cleanup() removes it)
        tmp = self._connection._shell.tmpdir or self._make_tmp_path()
        upload = self._connection._shell.join_path(tmp, "layers")  # apart from the module's own files
        # as the login user, not through become: put_file writes into it as that user
        made = self._low_level_execute_command("mkdir -m 0700 %s" % self._connection._shell.quote(upload),
                                               sudoable=False)
        if made["rc"]:
            raise AnsibleActionFail("cannot make %s: %s" % (upload, made["stderr"]))
        for layer in todo:
            self._connection.put_file(layer["source"], self._connection._shell.join_path(
                upload, _layers.hex_of(layer["digest"])))
        self._fixup_perms2((tmp, upload))
        adopted = self._execute_module(MODULE, module_args={
            "layers": [{"digest": layer["digest"]} for layer in todo], "store": store,
            "incoming": upload, "state": "fetched"}, task_vars=task_vars)
        if adopted.get("failed"):
            raise AnsibleActionFail(adopted.get("msg", "cannot adopt the uploaded layers"))
