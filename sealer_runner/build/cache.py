"""The build cache: instruction key -> the layer it produced.

A key is the digest of (parent key, instruction text, content identity), so a
hit means the same instruction on the same parent with the same inputs. An
entry whose layer blob has since been removed from the store is a miss.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from ..image.digest import Digest
from ..image.layer import LayerInfo
from ..image.store import Store
from ..image.types import Descriptor
from ..util.fs import atomic_write_bytes


def cache_key(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


@dataclass(frozen=True)
class StepResult:
    key: str
    layer: LayerInfo | None  # None: the step changed nothing (an empty layer in history)
    cached: bool


class BuildCache:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._dir = store.state_dir("build")

    def get(self, key: str) -> StepResult | None:
        try:
            data = json.loads((self._dir / key).read_bytes())
        except (OSError, ValueError):
            return None
        if data.get("layer") is None:
            return StepResult(key, None, True)
        try:
            layer = LayerInfo(Descriptor.from_json(data["layer"]), Digest.parse(data["diff_id"]))
        except Exception:  # a damaged cache entry is a miss, never a failure
            return None
        if not self._store.has_blob(layer.descriptor.digest):
            return None
        return StepResult(key, layer, True)

    def put(self, key: str, layer: LayerInfo | None) -> StepResult:
        data = {"layer": None} if layer is None else {
            "layer": layer.descriptor.to_json(),
            "diff_id": str(layer.diff_id),
        }
        atomic_write_bytes(self._dir / key, json.dumps(data).encode())
        return StepResult(key, layer, False)
