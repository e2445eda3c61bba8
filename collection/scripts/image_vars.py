# Copyright: sealer_runner developers
# Apache License 2.0 (see the collection's galaxy.yml)
"""The image's variables for sealer.cluster.run, without the sealer_runner front end.

    python3 image_vars.py IMAGE.tar OUT_DIR [--image REF] [--platform linux/amd64]
    python3 image_vars.py OCI_LAYOUT_DIR OUT_DIR ...

IMAGE.tar is an oci-archive: what `sealer_runner save` writes (its default format), or
`skopeo copy docker://REGISTRY/IMAGE oci-archive:IMAGE.tar` from a registry. OCI_LAYOUT_DIR is an OCI image
layout directory (`skopeo copy docker://... oci:DIR`), read in place.

From a tar, only blobs/sha256/<hex> members are kept (under OUT_DIR/blobs/sha256/), each checked against its
name while it is written; nothing else of the archive reaches the disk. Then OUT_DIR/image-vars.yml gets what
the image alone decides, as sealer_runner computes it:

- sealer_image, sealer_image_digest;
- sealer_layers (each {digest, size, source}: source is the blob's path on this machine, the controller),
  sealer_platform_layers, sealer_image_platforms and sealer_delivered_platform (the controller's architecture,
  else the first platform, or --platform);
- sealer_image_env (the image's ENV), sealer_upstream_registries (of its cached container images),
  sealer_cluster_runtime (its cluster-runtime-type label, else kubernetes when it ships bin/kubeadm, else none);
- sealer_launch: the image's launch steps (CMDS, else its LAUNCH apps by their APPCMDS or type), with the
  same ids as sealer_runner's, so a cluster run by either is not launched again by the other.

Every string is tagged !unsafe: text from an image is data, never a template Ansible renders on the
controller. Give the file to the playbook with `-e @OUT_DIR/image-vars.yml`. Needs Python 3 and PyYAML
(which ansible-core needs too).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import re
import sys
import tarfile

import yaml

BLOB = re.compile(r"^(?:\./)?blobs/sha256/([0-9a-f]{64})$")
INDEX_TYPES = ("application/vnd.oci.image.index.v1+json", "application/vnd.docker.distribution.manifest.list.v2+json")
EXTENSION = "sealer.image.extension"
CONTAINER_IMAGES = "sealer.image.container.images"
RUNTIME_LABEL = "cluster.alpha.sealer.io/cluster-runtime-type"
NAME_ANNOTATIONS = ("io.containerd.image.name", "org.opencontainers.image.ref.name")
MAX_JSON = 4 << 20
ARCHES = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "ppc64le": "ppc64le", "s390x": "s390x"}


class ImageVarsError(Exception):
    """A problem with the archive or the arguments, reported as one line."""


class Unsafe(str):
    """A string Ansible must not template (written as !unsafe)."""


def _unsafe(dumper, value):
    return dumper.represent_scalar("!unsafe", str(value))


class _Dumper(yaml.SafeDumper):
    pass


_Dumper.add_representer(Unsafe, _unsafe)


def unpack(archive, out):
    """Write the blobs of the oci-archive *archive* into *out*/blobs/sha256/, each verified; returns
    index.json's content."""
    blobs = os.path.join(out, "blobs", "sha256")
    os.makedirs(blobs, exist_ok=True)
    index = None
    with tarfile.open(archive, mode="r|*") as tar:
        for member in tar:
            match = BLOB.match(member.name)
            if _name(member) == "index.json" and member.isfile():
                index = _read_json(tar.extractfile(member), "index.json")
            elif match and member.isfile():
                _write_blob(tar.extractfile(member), os.path.join(blobs, match.group(1)), match.group(1))
    if index is None:
        raise ImageVarsError("%s: no index.json: not an oci-archive (a docker-archive has none; save it with "
                             "--format oci-archive)" % archive)
    return index


def _name(member):
    return member.name[2:] if member.name.startswith("./") else member.name


def _write_blob(stream, path, hex_digest):
    partial = path + ".partial"
    digest = hashlib.sha256()
    with open(partial, "wb") as f:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
            f.write(chunk)
    if digest.hexdigest() != hex_digest:
        os.unlink(partial)
        raise ImageVarsError("blobs/sha256/%s: content has digest sha256:%s" % (hex_digest, digest.hexdigest()))
    os.replace(partial, path)


def _read_json(stream, what):
    data = stream.read(MAX_JSON + 1)
    if len(data) > MAX_JSON:
        raise ImageVarsError("%s: larger than %d bytes" % (what, MAX_JSON))
    try:
        return json.loads(data)
    except ValueError as exc:
        raise ImageVarsError("%s: not JSON: %s" % (what, exc)) from exc


class Layout:
    """An OCI layout's blobs, read from *root*/blobs/sha256/."""

    def __init__(self, root):
        self.root = os.path.abspath(root)

    def path(self, digest):
        algorithm, _sep, hex_digest = str(digest).partition(":")
        if algorithm != "sha256" or not re.match(r"^[0-9a-f]{64}$", hex_digest):
            raise ImageVarsError("unsupported digest %r" % digest)
        return os.path.join(self.root, "blobs", "sha256", hex_digest)

    def json(self, descriptor):
        path = self.path(descriptor["digest"])
        if not os.path.isfile(path):
            raise ImageVarsError("%s: missing from the image" % descriptor["digest"])
        with open(path, "rb") as f:
            return _read_json(f, descriptor["digest"])


def pick_image(index, wanted):
    """The index entry named *wanted* (by containerd's name or the ref name), or the only one."""
    entries = index.get("manifests") or []
    names = [(entry, [entry.get("annotations", {}).get(a) for a in NAME_ANNOTATIONS]) for entry in entries]
    if wanted:
        found = [entry for entry, given in names if wanted in given]
        if not found:
            raise ImageVarsError("no image %s in the archive (it holds: %s)" % (wanted, ", ".join(_names(names))))
        return found[0]
    if len(entries) != 1:
        raise ImageVarsError("the archive holds %d images; name one with --image (%s)"
                             % (len(entries), ", ".join(_names(names))))
    return entries[0]


def _names(names):
    return [next((n for n in given if n), "?") for _entry, given in names]


def platform_manifests(layout, descriptor):
    """[(platform string, manifest, config)] of the image, in the index's order."""
    if descriptor.get("mediaType") in INDEX_TYPES:
        out = []
        for child in layout.json(descriptor).get("manifests") or []:
            out.extend(platform_manifests(layout, child))
        return out
    manifest = layout.json(descriptor)
    config = layout.json(manifest["config"])
    parts = [config.get("os", "linux"), config.get("architecture", "amd64"), config.get("variant")]
    return [("/".join(p for p in parts if p), manifest, config)]


def chosen_platform(manifests, wanted):
    if wanted:
        for item in manifests:
            if item[0] == wanted:
                return item
        raise ImageVarsError("the image has no platform %s (it has: %s)" % (wanted, ", ".join(m[0] for m in manifests)))
    arch = ARCHES.get(platform.machine(), platform.machine())
    return next((m for m in manifests if m[0].split("/")[1] == arch), manifests[0])


def layer_vars(layout, manifest):
    out = []
    for layer in manifest.get("layers") or []:
        path = layout.path(layer["digest"])
        if not os.path.isfile(path) or os.path.getsize(path) != layer["size"]:
            raise ImageVarsError("layer %s: missing or not %d bytes at %s" % (layer["digest"], layer["size"], path))
        out.append({"digest": layer["digest"], "size": layer["size"], "source": path})
    return out


def extension(manifest):
    raw = (manifest.get("annotations") or {}).get(EXTENSION)
    try:
        return json.loads(raw) if raw else {}
    except ValueError as exc:
        raise ImageVarsError("malformed %s annotation: %s" % (EXTENSION, exc)) from exc


def upstream_registries(manifest):
    raw = (manifest.get("annotations") or {}).get(CONTAINER_IMAGES)
    images = json.loads(raw) if raw else []
    return sorted({registry_domain(str(entry["image"])) for entry in images if entry.get("image")})


def registry_domain(name):
    """Docker's rule: the first part of a name is a registry when it has a '.' or ':', or is localhost."""
    first, sep, _rest = name.partition("/")
    if not sep or ("." not in first and ":" not in first and first != "localhost"):
        return "docker.io"
    return "docker.io" if first == "index.docker.io" else first


def has_kubeadm(layout, manifest):
    """Whether the rootfs the layers make holds bin/kubeadm (whiteouts applied)."""
    present = False
    for layer in manifest.get("layers") or []:
        with tarfile.open(layout.path(layer["digest"]), mode="r|*") as tar:
            for member in tar:
                name = _name(member).rstrip("/")
                if name == "bin/kubeadm":
                    present = not member.isdir()
                elif name in ("bin/.wh.kubeadm", "bin/.wh..wh..opq", ".wh.bin"):
                    present = False
    return present


def cluster_runtime(layout, manifest, config, ext):
    labels = dict((config.get("config") or {}).get("Labels") or {})
    labels.update(ext.get("labels") or {})
    declared = str(labels.get(RUNTIME_LABEL, "")).strip()
    if declared:
        return declared
    return "kubernetes" if has_kubeadm(layout, manifest) else "none"


def launch_steps(ext, digest):
    """The image's launch steps, as sealer_runner computes them for a Clusterfile that names none."""
    env = dict(ext.get("env") or {})
    launch = ext.get("launch") or {}
    if launch.get("cmds"):
        steps = [("cmd", str(cmd), env) for cmd in launch["cmds"]]
    else:
        apps = {app.get("name"): app for app in ext.get("applications") or []}
        steps = []
        for name in launch.get("app_names") or []:
            if name not in apps:
                raise ImageVarsError("the image launches app %s, which it does not hold" % name)
            steps.append((name, app_command(apps[name]), dict(env, **(apps[name].get("env") or {}))))
    return [{"name": name, "cmd": cmd, "env": step_env,
             "id": hashlib.sha256(("%s\0%s\0%s" % (digest, name, cmd)).encode()).hexdigest()[:24]}
            for name, cmd, step_env in steps]


def app_command(app):
    """sealer's rule: cd into the app's directory and run its APPCMDS, else kubectl apply / helm install / bash."""
    root = "application/apps/%s" % app["name"]
    if app.get("cmds"):
        return "cd %s && " % root + " && ".join(app["cmds"])
    if app.get("type") == "helm":
        return "helm install %s %s" % (app["name"], root)
    verb = "kubectl apply -f" if app.get("type") == "kube" else "bash"
    return " && ".join("%s %s/%s" % (verb, root, f) for f in app.get("files") or [])


def image_vars(layout, entry, wanted_platform=None):
    manifests = platform_manifests(layout, entry)
    if not manifests:
        raise ImageVarsError("the image has no manifest")
    chosen, manifest, config = chosen_platform(manifests, wanted_platform)
    ext = extension(manifest)
    name = next((entry.get("annotations", {}).get(a) for a in NAME_ANNOTATIONS
                 if entry.get("annotations", {}).get(a)), entry["digest"])
    every = []
    for plat, each, _config in manifests:
        try:
            every.append({"platform": plat, "layers": layer_vars(layout, each)})
        except ImageVarsError:
            continue  # a platform whose layers the archive lacks: the host check names it
    return {
        "sealer_image": name,
        "sealer_image_digest": entry["digest"],
        "sealer_layers": layer_vars(layout, manifest),
        "sealer_platform_layers": every,
        "sealer_image_platforms": [m[0] for m in manifests],
        "sealer_delivered_platform": chosen,
        "sealer_image_env": dict(ext.get("env") or {}),
        "sealer_upstream_registries": upstream_registries(manifest),
        "sealer_cluster_runtime": cluster_runtime(layout, manifest, config, ext),
        "sealer_launch": launch_steps(ext, entry["digest"]),
    }


def unsafe(value, key=None):
    """Every string value !unsafe, and the names of an env too (the image chose them)."""
    if isinstance(value, dict):
        env = key in ("env", "sealer_image_env")
        return {(Unsafe(k) if env else k): unsafe(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [unsafe(v) for v in value]
    return Unsafe(value) if isinstance(value, str) else value


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("source", help="an oci-archive (sealer_runner save) or an OCI layout directory")
    parser.add_argument("out", help="directory for the blobs (from an archive) and image-vars.yml")
    parser.add_argument("--image", help="the image to take, when the archive holds several")
    parser.add_argument("--platform", help="the platform of sealer_layers (default: this machine's)")
    args = parser.parse_args(argv)
    try:
        os.makedirs(args.out, exist_ok=True)
        if os.path.isdir(args.source):
            layout = Layout(args.source)
            with open(os.path.join(args.source, "index.json"), "rb") as f:
                index = _read_json(f, "index.json")
        else:
            index, layout = unpack(args.source, args.out), Layout(args.out)
        found = image_vars(layout, pick_image(index, args.image), args.platform)
    except (ImageVarsError, OSError, tarfile.TarError, KeyError, TypeError) as exc:
        sys.stderr.write("image_vars: %s: %s\n" % (args.source, exc))
        return 1
    target = os.path.join(args.out, "image-vars.yml")
    with open(target + ".partial", "w") as f:
        f.write("---\n# Written by sealer.cluster's scripts/image_vars.py from %s\n" % os.path.abspath(args.source))
        yaml.dump(unsafe(found), f, Dumper=_Dumper, default_flow_style=False, sort_keys=True, width=120)
    os.replace(target + ".partial", target)
    sys.stdout.write("%s: %s, %d layers (%s)\n" % (target, found["sealer_image"], len(found["sealer_layers"]),
                                                   found["sealer_delivered_platform"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
