# -*- coding: utf-8 -*-
# Copyright: sealer_runner developers. Apache-2.0.
"""Private to the sealer.cluster collection: host-side image layer delivery.

Keeps a host's layer store and makes a rootfs equal to an ordered list of layers.
Runs on the managed host with the Python standard library only.

Store layout (``<store>/``):
  ``<hex>``                a verified layer blob (gzip'd tar), the digest marker of "this host has it"
  ``unpacked/<hex>/``      the same layer already untarred, made in the same pass that received the blob,
                           consumed (moved into the rootfs) when the layer is applied
  ``incoming/<hex>``       a blob uploaded by other means (``put_file``), adopted after verification
  ``delivery.failed``      this run's delivery to the host failed (cleared when its server starts)

A blob arriving over a stream (SSH from the controller, HTTP from master0) is hashed, written and
untarred in one pass, so applying it afterwards is a series of renames rather than a second read.

Also runnable as a script, so the controller can stream a layer into it over SSH, and so a host can
serve its blobs to the others during the fan-out::

    python3 _layers.py receive STORE DIGEST < blob
    python3 _layers.py serve STORE ADDRESS PORT
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import stat
import sys
import tarfile

APPLIED = ".sealer-layers.json"
WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"
CHUNK = 1 << 20
UNPACKED = "unpacked"
# Left in a store when this run's delivery to its host failed: its layer server then answers 410 Gone
# for what it lacks, so the hosts below it in the tree fail now rather than wait for it.
FAILED = "delivery.failed"


class LayerError(Exception):
    """Raised for any delivery problem; the module's main() turns it into fail_json."""


_HEAP_KEPT = []


def keep_heap():
    """Stop glibc handing the heap back to the kernel between chunks (once per process).

    A layer moves through Python as a stream of 1 MiB ``bytes``: each is malloc'd and freed. By default
    glibc serves such sizes with fresh pages (mmap, or heap top it trims on free), so every chunk costs
    page faults and zeroed pages: receiving 1 GB spent ~3.4 of its ~4.9 core-seconds in the kernel.
    Keeping the freed memory for the next chunk halves that receive (measured: 4.9 -> 2.5 s). Where
    mallopt(3) is not there (not glibc), nothing changes."""
    if _HEAP_KEPT:
        return
    _HEAP_KEPT.append(True)
    try:
        import ctypes

        libc = ctypes.CDLL(None)
        libc.mallopt(-3, 64 << 20)  # M_MMAP_THRESHOLD: chunks come from the heap, not fresh mappings
        libc.mallopt(-1, 256 << 20)  # M_TRIM_THRESHOLD: freed heap top is kept for the next chunk
        libc.mallopt(-2, 16 << 20)  # M_TOP_PAD: and grown in steps, not page by page
    except (ImportError, OSError, AttributeError):
        pass


def hex_of(digest):
    algo, _, value = str(digest).partition(":")
    if algo != "sha256" or len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
        raise LayerError("not a sha256 digest: %r" % (digest,))
    return value


def blob_path(store, digest):
    return os.path.join(store, hex_of(digest))


def present(store, digest, size=None):
    """Whether the host keeps the blob *digest* (of *size* bytes, when known: blobs are not fsync'd, so
    a host that crashed while receiving may hold a torn one, which this sends again)."""
    try:
        st = os.stat(blob_path(store, digest))
    except OSError:
        return False
    return stat.S_ISREG(st.st_mode) and (size is None or st.st_size == size)


def missing(store, layers):
    return [layer.get("digest") for layer in layers if not present(store, layer.get("digest"), layer.get("size"))]


class _Tee(object):
    """A readable stream that hashes and keeps (writes to *out*) every byte read through it."""

    def __init__(self, stream, out):
        self._stream = stream
        self._out = out
        self.hash = hashlib.sha256()
        self.size = 0

    def read(self, n=-1):
        data = self._stream.read(n if n is not None and n >= 0 else CHUNK)
        if data:
            self.hash.update(data)
            self._out.write(data)
            self.size += len(data)
        return data

    def drain(self):
        while self.read(CHUNK):
            pass


def unpacked_path(store, digest):
    return os.path.join(store, UNPACKED, hex_of(digest))


def receive(store, digest, stream, unpack=True):
    """Keep the blob *digest* read from *stream*: hash it, write it and (with *unpack*) untar it into
    ``unpacked/<hex>`` in the same pass. Nothing is kept unless the whole stream matches *digest*.
    Returns the number of bytes received."""
    keep_heap()
    os.makedirs(os.path.join(store, UNPACKED), exist_ok=True)
    final = blob_path(store, digest)
    part = final + ".part"
    tree = unpacked_path(store, digest)
    tree_part = tree + ".part"
    _remove(tree_part)
    try:
        with open(part, "wb") as out:
            tee = _Tee(stream, out)
            if unpack:
                try:
                    _unpack_stream(tee, tree_part)
                except LayerError:
                    # not a tar we can untar as it streams: keep the blob; apply untars it later
                    _remove(tree_part)
            tee.drain()
    except (OSError, ValueError) as exc:
        _unlink(part)
        _remove(tree_part)
        raise LayerError("cannot receive %s: %s" % (digest, exc)) from exc
    if "sha256:" + tee.hash.hexdigest() != digest:
        _unlink(part)
        _remove(tree_part)
        raise LayerError("layer %s does not match its digest (received %d bytes); re-run to send it again"
                         % (digest, tee.size))
    if os.path.isdir(tree_part):
        _remove(tree)
        os.rename(tree_part, tree)
    os.replace(part, final)
    return tee.size


def _unpack_stream(stream, dest):
    """Untar a (gzip'd) tar stream into *dest* as it is, whiteout markers included."""
    os.makedirs(dest)
    try:
        with tarfile.open(fileobj=stream, mode="r|*", bufsize=CHUNK) as tar:
            tar.copybufsize = CHUNK  # the default 16 KiB re-slices the stream's 1 MiB buffer 64 times
            for member in tar:
                name = _normalise(member.name)
                if not name:
                    continue
                if member.name != name:
                    member.name = name
                _extract_member(tar, member, dest, os.path.join(dest, name))
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise LayerError("cannot untar: %s" % exc) from exc


def adopt_incoming(store, directory=None):
    """Verify blobs uploaded to ``<directory>/<hex>`` (default ``<store>/incoming``), untarring them in
    the same pass, and keep the good ones; returns their digests."""
    incoming = directory or os.path.join(store, "incoming")
    adopted = []
    if not os.path.isdir(incoming):
        return adopted
    for name in sorted(os.listdir(incoming)):
        path = os.path.join(incoming, name)
        digest = "sha256:" + name
        hex_of(digest)
        try:
            with open(path, "rb") as stream:
                receive(store, digest, stream)
        finally:
            _unlink(path)
        adopted.append(digest)
    return adopted


def mark_failed(store):
    """Record that this run's delivery to this host failed (see FAILED)."""
    os.makedirs(store, exist_ok=True)
    with open(os.path.join(store, FAILED), "w"):
        pass


def fetch(store, urls, digest, wait=0, timeout=300, sleep=None):
    """Download one blob from another host of the cluster, verifying and untarring it as it arrives.

    *urls* are tried in order. A source that answers 404 does not have the blob yet (it is itself still
    receiving or fetching it: the fan-out is a tree, fed while master0 receives) and is asked again
    until *wait* seconds have passed since the fetch began (one budget for all sources); a source that
    answers 410 never will (its own delivery failed), and one that cannot be reached, or fails
    mid-way, is left for the next one."""
    import time
    import urllib.error
    import urllib.request  # here, not at the top: `receive` starts ~0.1 s sooner without it

    sleep = sleep or time.sleep
    errors = []
    deadline = time.monotonic() + wait  # one wait for the layer, whichever source finally has it
    for url in urls:
        while True:
            try:
                with urllib.request.urlopen("%s/%s" % (url.rstrip("/"), hex_of(digest)), timeout=timeout) as resp:
                    return receive(store, digest, resp)
            except urllib.error.HTTPError as exc:
                if exc.code == 404 and time.monotonic() < deadline:
                    sleep(0.2)
                    continue
                errors.append("%s: %s" % (url, exc))
            except (OSError, ValueError, LayerError) as exc:
                errors.append("%s: %s" % (url, exc))
            break
    raise LayerError("cannot fetch %s (%s)" % (digest, "; ".join(errors) or "no source given"))


def make_server(store, address, port):
    """An HTTP server of the complete blobs in *store*, by name only (``GET``/``HEAD /<hex>``), sent
    with sendfile(2): no directory listing, no unpacked tree, no half-received ``.part``; 404 for
    anything else, which a fetching child takes as "not yet" (it waits, then tries master0), or 410
    once this host's own delivery has failed (see FAILED)."""
    import socket
    import socketserver
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class BlobHandler(BaseHTTPRequestHandler):
        server_version = "sealer-layers"

        def log_request(self, code="-", size="-"):
            if str(code) not in ("404", "410"):  # children poll with 404s 5 times a second: not worth a line
                super().log_request(code, size)

        def do_GET(self):  # noqa: N802 (http.server's name)
            self._send(body=True)

        def do_HEAD(self):  # noqa: N802
            self._send(body=False)

        def _send(self, body):
            name = self.path.lstrip("/")
            try:
                hex_of("sha256:" + name)
                blob = open(os.path.join(store, name), "rb")
            except (LayerError, OSError):
                self.send_error(410 if os.path.exists(os.path.join(store, FAILED)) else 404)
                return
            with blob:
                size = os.fstat(blob.fileno()).st_size
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(size))
                self.end_headers()
                if body:
                    self.connection.sendfile(blob)

    class Server(ThreadingHTTPServer):
        address_family = socket.AF_INET6 if ":" in address else socket.AF_INET

        def server_bind(self):  # HTTPServer's asks DNS for the host's name: slow where there is none
            socketserver.TCPServer.server_bind(self)
            self.server_name, self.server_port = address, self.server_address[1]

        def handle_error(self, request, client_address):
            if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):  # a child gave up
                super().handle_error(request, client_address)

    return Server((address, int(port)), BlobHandler)


def applied(rootfs):
    try:
        with open(os.path.join(rootfs, APPLIED)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def plan(rootfs, digests):
    """What making *rootfs* equal to *digests* takes: ('none'|'extend'|'rebuild', layers to apply)."""
    done = applied(rootfs)
    if done == digests:
        return "none", []
    if done is not None and digests[: len(done)] == done:
        return "extend", digests[len(done):]
    return "rebuild", list(digests)


def apply(store, rootfs, digests):
    """Make *rootfs* equal to the layers *digests*; returns the action taken."""
    action, todo = plan(rootfs, digests)
    for digest in todo:
        if not present(store, digest):
            raise LayerError("layer %s is not on this host" % digest)
    if action == "none":
        return action
    target = rootfs if action == "extend" else rootfs + ".new"
    if action == "rebuild":
        shutil.rmtree(target, ignore_errors=True)
    os.makedirs(target, exist_ok=True)
    for digest in todo:
        apply_one(store, digest, target)
    _write_applied(target, digests)
    if action == "rebuild":  # swap in the new tree: files of dropped layers disappear with the old one
        old = rootfs + ".old"
        shutil.rmtree(old, ignore_errors=True)
        if os.path.exists(rootfs):
            os.replace(rootfs, old)
        os.replace(target, rootfs)
        shutil.rmtree(old, ignore_errors=True)
    return action


def apply_one(store, digest, root):
    """Apply one layer onto *root* by moving its unpacked tree in: the tree untarred on arrival, else
    (none kept, or kept on another filesystem than the rootfs) one untarred from the blob beside
    *root*. A merge cut short is not resumed: its tree is dropped, and the next run uses the blob."""
    tree = unpacked_path(store, digest)
    merging = tree + ".merging"
    _remove(merging)
    if os.path.isdir(tree):
        os.rename(tree, merging)
        try:
            merge(merging, root)
            return
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise LayerError("cannot apply %s: %s" % (digest, exc)) from exc
        finally:
            _remove(merging)
    keep_heap()
    blob = blob_path(store, digest)
    aside = "%s.layer-%s" % (root.rstrip("/"), hex_of(digest)[:16])
    _remove(aside)
    try:
        with open(blob, "rb") as stream:
            _unpack_stream(stream, aside)
        merge(aside, root)
    except (LayerError, OSError) as exc:
        raise LayerError("cannot extract %s: %s" % (blob, exc)) from exc
    finally:
        _remove(aside)


def merge(layer, root, rel=""):
    """Move an unpacked layer's entries into *root*, honouring its OCI whiteouts (applied first, so a
    layer may delete a lower entry and create a new one of the same name)."""
    src_dir = os.path.join(layer, rel) if rel else layer
    dst_dir = os.path.join(root, rel) if rel else root
    names = sorted(os.listdir(src_dir))
    if OPAQUE in names:
        for child in os.listdir(dst_dir):
            _remove(os.path.join(dst_dir, child))
    for name in names:
        if name.startswith(WHITEOUT) and name != OPAQUE:
            _remove(os.path.join(dst_dir, name[len(WHITEOUT):]))
    for name in names:
        if name.startswith(WHITEOUT):
            continue
        src = os.path.join(src_dir, name)
        dst = os.path.join(dst_dir, name)
        child = (rel + "/" if rel else "") + name
        src_st = os.lstat(src)
        if stat.S_ISDIR(src_st.st_mode) and os.path.isdir(dst) and not os.path.islink(dst):
            merge(layer, root, child)
            _copy_dir_attrs(src_st, dst)
            continue
        if os.path.lexists(dst):
            _remove(dst)
        os.rename(src, dst)
        if stat.S_ISDIR(src_st.st_mode):
            _strip_markers(dst)


def _copy_dir_attrs(st, path):
    os.chmod(path, stat.S_IMODE(st.st_mode))
    if os.geteuid() == 0:
        os.lchown(path, st.st_uid, st.st_gid)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def _strip_markers(tree):
    """Whiteouts inside a directory new to the rootfs hide nothing: drop the markers themselves."""
    for parent, _dirs, files in os.walk(tree):
        for name in files:
            if name.startswith(WHITEOUT):
                os.unlink(os.path.join(parent, name))


def _extract_member(tar, member, root, target):
    if hasattr(tarfile, "tar_filter"):  # Python with PEP 706 (3.11.4+, and Debian's security backports)
        tar.extract(member, root, set_attrs=True, filter="tar")
        return
    real_root = os.path.realpath(root)
    if not os.path.realpath(os.path.dirname(target)).startswith(real_root):
        raise LayerError("layer member %s would be written outside the rootfs" % member.name)
    tar.extract(member, root, set_attrs=True)


def _normalise(name):
    name = name.lstrip("/")
    while name.startswith("./"):
        name = name[2:].lstrip("/")
    return "" if name == "." else name.rstrip("/")


def _remove(path):
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    elif os.path.lexists(path):
        os.unlink(path)


def _unlink(path):
    try:
        os.unlink(path)
    except OSError:
        pass


def _write_applied(root, digests):
    tmp = os.path.join(root, APPLIED + ".tmp")
    with open(tmp, "w") as f:
        json.dump(digests, f)
    os.replace(tmp, os.path.join(root, APPLIED))


def _main(argv):
    if len(argv) == 5 and argv[1] == "serve":
        _unlink(os.path.join(argv[2], FAILED))  # an earlier run's
        make_server(argv[2], argv[3], argv[4]).serve_forever()
        return 0
    if len(argv) != 4 or argv[1] != "receive":
        sys.stderr.write("usage: %s receive STORE DIGEST < blob\n       %s serve STORE ADDRESS PORT\n"
                         % (argv[0], argv[0]))
        return 2
    try:
        size = receive(argv[2], argv[3], getattr(sys.stdin, "buffer", sys.stdin))
    except LayerError as exc:
        sys.stderr.write("%s\n" % exc)
        return 1
    sys.stdout.write(json.dumps({"digest": argv[3], "size": size}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv))
