"""Build OCI archives by hand, digests right and content as broken as a test wants."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from pathlib import Path

from sealer_runner.image.types import MT_OCI_CONFIG, MT_OCI_LAYER_GZIP, MT_OCI_MANIFEST


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def tar_of(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def good_layer() -> bytes:
    return gzip.compress(tar_of({"etc/hello": b"hello\n"}), mtime=0)


def config_for(layers: list[bytes]) -> bytes:
    return json.dumps({"architecture": "amd64", "os": "linux",
                       "rootfs": {"type": "layers", "diff_ids": [digest(b"x" + layer) for layer in layers]}}).encode()


def desc(media_type: str, data: bytes) -> dict:
    return {"mediaType": media_type, "digest": digest(data), "size": len(data)}


def manifest_for(config: bytes, layers: list[tuple[str, bytes]], config_type: str = MT_OCI_CONFIG) -> bytes:
    return json.dumps({"schemaVersion": 2, "mediaType": MT_OCI_MANIFEST, "config": desc(config_type, config),
                       "layers": [desc(mt, data) for mt, data in layers]}).encode()


def write_archive(path: Path, *, index: bytes | None = None, name: str = "evil.example.com/x:v1",
                  manifest: bytes | None = None, blobs: list[bytes] = (), members: dict[str, bytes] | None = None,
                  compress: bool = False) -> Path:
    """An oci-archive: index.json (naming *manifest*, or *index* verbatim), then the blobs."""
    if index is None:
        assert manifest is not None
        index = json.dumps({"schemaVersion": 2, "manifests": [
            {**desc(MT_OCI_MANIFEST, manifest), "annotations": {"io.containerd.image.name": name}}]}).encode()
    files = {"oci-layout": b'{"imageLayoutVersion":"1.0.0"}', "index.json": index}
    for blob in ([manifest] if manifest is not None else []) + list(blobs):
        files[f"blobs/sha256/{digest(blob)[7:]}"] = blob
    files.update(members or {})
    with tarfile.open(path, "w:gz" if compress else "w") as tar:
        for member, data in files.items():
            info = tarfile.TarInfo(member)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def image_archive(path: Path, *, config: bytes | None = None, layers: list[tuple[str, bytes]] | None = None,
                  config_type: str = MT_OCI_CONFIG, extra: list[bytes] = (), **kw) -> Path:
    """A whole image; pass a broken *config* or *layers* to break just that part."""
    if layers is None:
        layers = [(MT_OCI_LAYER_GZIP, good_layer())]
    if config is None:
        config = config_for([data for _, data in layers])
    manifest = manifest_for(config, layers, config_type)
    return write_archive(path, manifest=manifest, blobs=[config, *(d for _, d in layers), *extra], **kw)
