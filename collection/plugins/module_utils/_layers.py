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

Layers come from images nobody vouches for. Every one is untarred by this file's one extractor
(`extract_stream`, under the rules written above it: no name leaving the root, no write beneath a
symlink, hardlinks only to files already in the root, no device nodes, bounded tar headers), and `merge`
checks an unpacked tree again before it moves anything. The controller applies layers at build time with
the same extractor: sealer_runner.image.layer loads this file by path. The extractor lives here, not in a
module_utils file of its own, because this file is also sent alone to hosts (``python3 -c``) to receive
layers over SSH, and serves them from there.

Also runnable as a script, so the controller can stream a layer into it over SSH, and so a host can
serve its blobs to the others during the fan-out::

    python3 _layers.py receive STORE DIGEST < blob
    python3 _layers.py serve STORE ADDRESS PORT
"""

from __future__ import annotations

import errno
import grp
import hashlib
import json
import os
import pwd
import re
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
    algo, _sep, value = str(digest).partition(":")
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
    refused = None
    try:
        with open(part, "wb") as out:
            tee = _Tee(stream, out)
            if unpack:
                try:
                    _unpack_stream(tee, tree_part, digest)
                except UnsafeLayer as exc:
                    refused = exc  # reported once the digest is known to match: the layer is what was sent
                    _remove(tree_part)
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
    if refused is not None:
        _unlink(part)
        raise refused
    if os.path.isdir(tree_part):
        _remove(tree)
        os.rename(tree_part, tree)
    os.replace(part, final)
    return tee.size


def _unpack_stream(stream, dest, layer):
    """Untar a (gzip'd) tar stream into the new directory *dest* as it is, whiteout markers included."""
    os.makedirs(dest)
    extract_stream(stream, dest, layer, "keep")
    os.close(os.open(os.path.join(dest, TREE_MARK), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


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
    opener = urllib.request.build_opener()
    errors = []
    deadline = time.monotonic() + wait  # one wait for the layer, whichever source finally has it
    for url in urls:
        while True:
            try:
                # urlopen's own default opener; not ansible's open_url, which this file cannot import
                # when it runs as a plain script on a host (`_layers.py serve`/`receive`)
                with opener.open("%s/%s" % (url.rstrip("/"), hex_of(digest)), timeout=timeout) as resp:
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
    if os.path.isdir(tree) and not os.path.exists(os.path.join(tree, TREE_MARK)):
        _remove(tree)  # unpacked by an older receiver: extracted again from the blob, under the rules
    if os.path.isdir(tree):
        os.rename(tree, merging)
        try:
            merge(merging, root, layer=digest)
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
            _unpack_stream(stream, aside, digest)
        merge(aside, root, layer=digest)
    except UnsafeLayer:
        raise
    except (LayerError, OSError) as exc:
        raise LayerError("cannot extract %s: %s" % (blob, exc)) from exc
    finally:
        _remove(aside)


def merge(tree, root, layer=None):
    """Move an unpacked layer's entries (the extractor's *tree*, whiteout markers kept) into *root*,
    honouring its OCI whiteouts (applied first, so a layer may delete a lower entry and create a new one
    of the same name). The whole tree is checked first, so a refused layer changes nothing: its names
    again (see `classify`), and that it writes beneath no symlink or file of *root* (a directory the
    extractor made for a member's parent, marked IMPLICIT, does not replace what *root* has there).
    Directories of *root* are entered only when they are real ones."""
    layer = layer or tree
    try:
        _check_merge(tree, root, "")
    except UnsafeLayer as exc:
        raise UnsafeLayer("layer %s refused: %s" % (layer, exc)) from None
    _merge(tree, root, "")


def _merge_plan(tree, rel):
    """The names of the tree's directory *rel*: (entries, whited-out names, opaque?), each name checked."""
    names = sorted(os.listdir(os.path.join(tree, rel) if rel else tree))
    entries, whited = [], []
    for name in names:
        kind, path = classify(rel + "/" + name if rel else name)
        if kind == "entry":
            entries.append(name)
        elif kind == "whiteout":
            whited.append(path.rpartition("/")[2])
    return entries, whited, OPAQUE in names


def _check_merge(tree, root, rel):
    entries, whited, opaque = _merge_plan(tree, rel)
    for name in entries:
        child = rel + "/" + name if rel else name
        src = os.path.join(tree, child)
        if opaque or name in whited or not stat.S_ISDIR(os.lstat(src).st_mode):
            continue  # moved in whole, over nothing
        try:
            dst_st = os.lstat(os.path.join(root, child))
        except FileNotFoundError:
            continue
        if stat.S_ISDIR(dst_st.st_mode):
            _check_merge(tree, root, child)
        elif os.path.lexists(os.path.join(src, IMPLICIT)):
            raise UnsafeLayer("member %r: %r is %s in the rootfs: a layer may not write beneath it"
                              % (child + "/", child, "a symlink" if stat.S_ISLNK(dst_st.st_mode) else "not a directory"))


def _merge(tree, root, rel):
    src_dir = os.path.join(tree, rel) if rel else tree
    dst_dir = os.path.join(root, rel) if rel else root
    entries, whited, opaque = _merge_plan(tree, rel)
    if rel and not stat.S_ISDIR(os.lstat(dst_dir).st_mode):  # checked before: the rootfs changed under us
        raise LayerError("%s is no longer a directory" % dst_dir)
    if opaque:
        for child in os.listdir(dst_dir):
            _remove(os.path.join(dst_dir, child))
    for name in whited:
        _remove(os.path.join(dst_dir, name))
    for name in entries:
        src = os.path.join(src_dir, name)
        dst = os.path.join(dst_dir, name)
        child = rel + "/" + name if rel else name
        src_st = os.lstat(src)
        if stat.S_ISDIR(src_st.st_mode) and os.path.isdir(dst) and not os.path.islink(dst):
            implicit = os.path.lexists(os.path.join(src, IMPLICIT))
            _merge(tree, root, child)
            if not implicit:  # a directory the layer holds: its attributes too
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


# ------------------------------------------------------------------ the layer rules and the one extractor
#
# Every layer is untarred by `extract_stream` below, on hosts (on arrival, or from the blob) and on the
# controller (sealer_runner.image.layer.apply_layer loads this file by path). Its rules:
#
# * Names: a leading "/" and "./" are stripped, a trailing "/" too; then no component may be empty,
#   "." or "..", and no name may hold NUL. ``.wh.NAME`` whites out NAME (never "", "." or ".."),
#   ``.wh..wh..opq`` makes its directory opaque, other ``.wh..wh.*`` names (aufs metadata) are ignored.
# * A layer may not write beneath a symlink: every parent of a member, of a whiteout and of a hardlink's
#   target must be a real directory inside the root (checked with lstat; missing ones are made, 0755).
#   Symlinks are created as data, their target text kept verbatim, and never followed by the extractor.
# * A hardlink's target is a name like any other, and must be a regular file already in the root
#   (earlier in this layer; on the controller, also a lower layer's); the link is made with link(2) to it.
# * An existing leaf is removed (unlink, or the whole directory) before a member takes its place; a
#   regular file is always a new inode (O_CREAT|O_EXCL|O_NOFOLLOW): nothing is written through a link.
# * Only regular files, directories, symlinks and hardlinks: device nodes, FIFOs, sparse files and unknown
#   types are refused (a cluster image carries files, not devices).
# * Mode bits are kept whole (setuid, setgid, sticky: 0o7777); owners are set only when running as root
#   (names first, as tarfile does, else the numeric ids); mtimes are kept.
# * Extended headers (pax, GNU long names) are capped at MAX_EXTENDED_HEADER bytes before being read, 8
#   in a row at most, and pax records are checked to be well formed (Pythons before 3.12.6 parse them
#   with quadratic regular expressions).
# A layer breaking a rule raises UnsafeLayer (naming the layer and the member) before anything is
# written for that member.

MAX_EXTENDED_HEADER = 1 << 20
MAX_HEADER_CHAIN = 8
WHITEOUT_META = ".wh..wh."
# Left by the extractor (with whiteouts="keep") in a directory it had to make for a member's parent: merge
# then knows the layer did not replace what the rootfs has there (a symlink stays a refusal, not replaced).
IMPLICIT = WHITEOUT_META + ".sealer-implicit"
# At the top of every tree this extractor unpacked: a tree without it (left by an older receiver, which
# did not check layers as this one does) is not merged; the layer is extracted again from its blob.
TREE_MARK = WHITEOUT_META + ".sealer-tree-1"
_EXTENDED = (tarfile.XHDTYPE, tarfile.XGLTYPE, tarfile.SOLARIS_XHDTYPE, tarfile.GNUTYPE_LONGNAME,
             tarfile.GNUTYPE_LONGLINK)
_GNUTYPE_SPARSE = tarfile.GNUTYPE_SPARSE  # the hooks below name their argument tarfile, as CPython does
_LONG_DIGITS = re.compile(br"[0-9]{65}")
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


class UnsafeLayer(LayerError):
    """A layer breaks the layer rules (see above): it is refused whole, never partly applied."""


def member_path(name):
    """A member's path inside the root, normalised (``./a/b/`` -> ``a/b``; the root itself -> ``""``).
    Raises UnsafeLayer for a name that could leave the root or is ambiguous."""
    path, problem = _normalised(name)
    if problem:
        raise UnsafeLayer("member %r: %s" % (name, problem))
    return path


def _normalised(name):
    """(path, None), or (None, what is wrong with *name*)."""
    if "\0" in name:
        return None, "NUL in its name"
    path = name.lstrip("/")
    while path.startswith("./"):
        path = path[2:].lstrip("/")
    path = path.rstrip("/")
    if path in ("", "."):
        return "", None
    for part in path.split("/"):
        if part in ("", ".", ".."):
            return None, "a %r component in its name" % part
    return path, None


def classify(name):
    """What a member means under the OCI whiteout rules, with its normalised path: ``("entry", path)``,
    ``("whiteout", removed_path)``, ``("opaque", dir)``, ``("root", "")`` or ``("ignore", path)``."""
    path = member_path(name)
    if not path:
        return "root", ""
    parent, _sep, base = path.rpartition("/")
    if base == OPAQUE:
        return "opaque", parent
    if base.startswith(WHITEOUT_META):
        return "ignore", path
    if base.startswith(WHITEOUT):
        victim = base[len(WHITEOUT):]
        if victim in ("", ".", ".."):
            raise UnsafeLayer("member %r: a whiteout of %r" % (name, victim))
        return "whiteout", parent + "/" + victim if parent else victim
    return "entry", path


def check_member(member):
    """The rules a member must pass on its own, before any tree is looked at: its name (`classify`), its
    type (files, directories, symlinks and hardlinks only) and its link target (a hardlink's must name a
    path inside the root). Returns `classify`'s answer; raises UnsafeLayer. Used by the extractor and by
    the controller's check of a layer arriving in its store (load, pull)."""
    kind, path = classify(member.name)
    if kind != "entry":
        return kind, path
    if member.ischr() or member.isblk() or member.isfifo():
        raise UnsafeLayer("member %r: device nodes and FIFOs are not allowed in layers" % member.name)
    if not (member.isreg() or member.isdir() or member.issym() or member.islnk()) or member.sparse:
        raise UnsafeLayer("member %r: unsupported member type %r" % (member.name, member.type))
    if "\0" in member.linkname:
        raise UnsafeLayer("member %r: NUL in its link target" % member.name)
    if member.islnk():
        target, problem = _normalised(member.linkname)
        if problem or not target or classify(target)[0] != "entry":
            raise UnsafeLayer("member %r: hardlink target %r: %s"
                              % (member.name, member.linkname, problem or "not a file of the layer"))
    return kind, path


class _Replay(object):
    """The tar stream, with the block just read handed out once more (to tarfile's own pax parser)."""

    def __init__(self, data, fileobj):
        self._data = data
        self._fileobj = fileobj

    def read(self, size=None):
        data, self._data = self._data, None
        return data if data is not None else self._fileobj.read(size)

    def __getattr__(self, name):
        return getattr(self._fileobj, name)


def _check_pax(data, offset):
    """Refuse a pax block that is not a run of well-formed ``"%d key=value\\n"`` records, or that holds a
    run of more than 64 digits (what makes older Pythons' pax regular expressions quadratic)."""
    pos, end = 0, len(data)
    while pos < end:
        space = data.find(b" ", pos, min(end, pos + 21))
        length = int(data[pos:space]) if space > pos and data[pos:space].isdigit() else 0
        stop = pos + length
        if length <= 0 or stop > end or data[stop - 1:stop] != b"\n" or data.find(b"=", space + 2, stop - 1) < 0:
            raise UnsafeLayer("tar header at offset %d: a malformed pax record" % offset)
        pos = stop
    if _LONG_DIGITS.search(data):
        raise UnsafeLayer("tar header at offset %d: a pax record with a run of over 64 digits" % offset)


class LayerTarInfo(tarfile.TarInfo):
    """tarfile's member, bounded: extended headers over MAX_EXTENDED_HEADER (or more than MAX_HEADER_CHAIN
    in a row) are refused before they are read into memory, pax records are checked before tarfile's
    regular expressions see them, and sparse members are refused. Pass as ``tarfile.open(tarinfo=...)``.
    (Hooks CPython's ``_proc_member``/``_proc_pax``, the same from 3.9 to 3.13.)"""

    def _proc_member(self, tarfile):
        if self.size < 0:
            raise UnsafeLayer("tar header at offset %d: a negative size" % self.offset)
        if self.type == _GNUTYPE_SPARSE:
            raise UnsafeLayer("member %r: sparse files are not allowed in layers" % self.name)
        if self.type not in _EXTENDED:
            return super()._proc_member(tarfile)
        if self.size > MAX_EXTENDED_HEADER:
            raise UnsafeLayer("tar header at offset %d: an extended header of %d bytes (the cap is %d)"
                              % (self.offset, self.size, MAX_EXTENDED_HEADER))
        depth = getattr(tarfile, "_sealer_header_chain", 0)
        if depth >= MAX_HEADER_CHAIN:
            raise UnsafeLayer("tar header at offset %d: over %d extended headers in a row" % (self.offset, depth))
        tarfile._sealer_header_chain = depth + 1
        try:
            return super()._proc_member(tarfile)
        finally:
            tarfile._sealer_header_chain = depth

    def _proc_pax(self, tarfile):
        data = tarfile.fileobj.read(self._block(self.size))
        _check_pax(data[:self.size], self.offset)
        stream = tarfile.fileobj
        tarfile.fileobj = _Replay(data, stream)
        try:
            return super()._proc_pax(tarfile)
        finally:
            tarfile.fileobj = stream

    def _proc_gnusparse_00(self, *_args):
        raise UnsafeLayer("tar header at offset %d: sparse files are not allowed in layers" % self.offset)

    _proc_gnusparse_01 = _proc_gnusparse_10 = _proc_gnusparse_00


def open_layer(stream):
    """A (gzip'd) tar stream, read as it comes, with bounded headers."""
    tar = tarfile.open(fileobj=stream, mode="r|*", bufsize=CHUNK, tarinfo=LayerTarInfo)
    tar.copybufsize = CHUNK  # the default 16 KiB re-slices the stream's 1 MiB buffer 64 times
    return tar


def extract_stream(stream, root, layer, whiteouts):
    """Untar the layer *layer* (a name for messages) read from *stream* onto the directory *root*.

    With ``whiteouts="apply"`` whiteouts remove what *root* holds (not what this layer made); with
    ``"keep"`` (*root* then being an empty directory) their markers are kept as empty files, for `merge`.
    Raises UnsafeLayer for a layer breaking the rules, LayerError for one that cannot be read."""
    extractor = Extractor(root, layer, whiteouts)
    try:
        with open_layer(stream) as tar:
            for member in tar:
                extractor.add(tar, member)
        extractor.finish()
    except UnsafeLayer as exc:
        raise UnsafeLayer("layer %s refused: %s" % (layer, exc)) from None
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise LayerError("cannot untar layer %s: %s" % (layer, exc)) from exc


class Extractor(object):
    """Writes members into *root* under the layer rules (see above). `add` each member, then `finish`."""

    def __init__(self, root, layer, whiteouts):
        if whiteouts not in ("apply", "keep"):
            raise ValueError("whiteouts must be 'apply' or 'keep'")
        self.root = root
        self.layer = layer
        self.keep_markers = whiteouts == "keep"
        self.as_root = hasattr(os, "geteuid") and os.geteuid() == 0
        self.created = set()  # paths this layer made: its own whiteouts leave them alone
        self._dirs = []  # (path, member): directory attributes are set last, when nothing is added below
        self._real_dirs = {""}  # paths known to be real directories (emptied when a directory is removed)
        self._implicit = set()  # directories made for a parent, holding an IMPLICIT marker
        self._owners = {}

    def add(self, tar, member):
        kind, path = check_member(member)
        if kind in ("root", "ignore"):
            return
        if kind in ("whiteout", "opaque"):
            self._whiteout(kind, path, member)
            return
        target = self._link_target(member) if member.islnk() else None
        self._parents(path, member)
        full = os.path.join(self.root, path)
        if member.isdir():
            self._directory(path, full, member)
        else:
            self._clear_leaf(full)
            if member.isreg():
                self._write_file(tar, member, full)
            elif member.issym():
                os.symlink(member.linkname, full)
                self._set_attrs(member, full, link=True)
            else:
                os.link(target, full, follow_symlinks=False)
                self._set_attrs(member, full)
        self._created(path)

    def finish(self):
        """Set the directories' attributes, deepest first, each still checked to be a real directory."""
        self._real_dirs = {""}
        for path, member in reversed(self._dirs):
            if self._real_dir(path):
                self._set_attrs(member, os.path.join(self.root, path))
        self._dirs = []

    # -- the checks

    def _parents(self, path, member):
        """Make sure every parent of *path* is a real directory in the root, making missing ones."""
        parent = path.rpartition("/")[0]
        if parent in self._real_dirs:
            return
        walked = ""
        for part in parent.split("/"):
            walked = walked + "/" + part if walked else part
            if walked in self._real_dirs:
                continue
            full = os.path.join(self.root, walked)
            try:
                st = os.lstat(full)
            except FileNotFoundError:
                os.mkdir(full, 0o755)
                os.chmod(full, 0o755)  # not the umask's
                if self.keep_markers:
                    os.close(os.open(os.path.join(full, IMPLICIT), os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW,
                                     0o600))
                    self._implicit.add(walked)
                self.created.add(walked)
            else:
                self._check_dir(st, walked, member)
            self._real_dirs.add(walked)

    def _check_dir(self, st, walked, member):
        if stat.S_ISLNK(st.st_mode):
            raise UnsafeLayer("member %r: %r is a symlink: a layer may not write beneath a symlink"
                              % (member.name, walked))
        if not stat.S_ISDIR(st.st_mode):
            raise UnsafeLayer("member %r: %r is not a directory" % (member.name, walked))

    def _real_dir(self, path, member=None):
        """Whether *path* is a real directory in the root, reached through real directories only: False
        when it (or a parent) is missing, UnsafeLayer (with *member*) when one is a symlink or a file."""
        walked = ""
        for part in path.split("/") if path else ():
            walked = walked + "/" + part if walked else part
            if walked in self._real_dirs:
                continue
            try:
                st = os.lstat(os.path.join(self.root, walked))
            except FileNotFoundError:
                return False
            if member is None:
                if not stat.S_ISDIR(st.st_mode):
                    return False
            else:
                self._check_dir(st, walked, member)
            self._real_dirs.add(walked)
        return True

    def _link_target(self, member):
        """The in-root path of a hardlink's target: a regular file already there, reached without symlinks."""
        target, problem = _normalised(member.linkname)
        if problem or not target or classify(target)[0] != "entry":
            raise UnsafeLayer("member %r: hardlink target %r: %s"
                              % (member.name, member.linkname, problem or "not a file of the layer"))
        if not self._real_dir(target.rpartition("/")[0], member):
            raise UnsafeLayer("member %r: hardlink target %r is not in the layer" % (member.name, member.linkname))
        full = os.path.join(self.root, target)
        try:
            st = os.lstat(full)
        except FileNotFoundError:
            st = None
        if st is None or not stat.S_ISREG(st.st_mode):
            raise UnsafeLayer("member %r: hardlink target %r is not a regular file in the layer"
                              % (member.name, member.linkname))
        return full

    # -- the writes

    def _whiteout(self, kind, path, member):
        directory = path if kind == "opaque" else path.rpartition("/")[0]
        if self.keep_markers:
            marker = member_path(member.name)
            self._parents(marker, member)
            full = os.path.join(self.root, marker)
            self._clear_leaf(full)
            os.close(os.open(full, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o644))
            return
        if not self._real_dir(directory, member):
            return  # nothing there to white out
        if kind == "whiteout":
            if path not in self.created:
                self._clear_leaf(os.path.join(self.root, path))
            return
        base = os.path.join(self.root, directory) if directory else self.root
        for name in os.listdir(base):
            if (directory + "/" + name if directory else name) not in self.created:
                self._clear_leaf(os.path.join(base, name))

    def _directory(self, path, full, member):
        try:
            st = os.lstat(full)
        except FileNotFoundError:
            st = None
        if st is None or not stat.S_ISDIR(st.st_mode):
            if st is not None:
                os.unlink(full)
            os.mkdir(full, 0o700)  # its own mode is set last (finish)
        elif path in self._implicit:  # made for a parent earlier in this layer, now a member of its own
            os.unlink(os.path.join(full, IMPLICIT))
            self._implicit.discard(path)
        self._real_dirs.add(path)
        self._dirs.append((path, member))

    def _clear_leaf(self, full):
        """Remove what is at *full* (a file, a link, or a whole directory), never following a link."""
        try:
            st = os.lstat(full)
        except FileNotFoundError:
            return
        if stat.S_ISDIR(st.st_mode):
            shutil.rmtree(full)
            self._real_dirs = {""}
            self._implicit = set(p for p in self._implicit if os.path.lexists(os.path.join(self.root, p)))
        else:
            os.unlink(full)

    def _write_file(self, tar, member, full):
        fd = os.open(full, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o600)
        with os.fdopen(fd, "wb") as out:
            if member.size:
                tar.fileobj.seek(member.offset_data)
                tarfile.copyfileobj(tar.fileobj, out, member.size, tarfile.ReadError, tar.copybufsize)
                out.flush()
            self._set_attrs(member, fd)

    def _created(self, path):
        while path and path not in self.created:
            self.created.add(path)
            path = path.rpartition("/")[0]

    def _set_attrs(self, member, where, link=False):
        """Owner (as root), then the whole mode (chown clears setuid bits), then mtime: on an fd, or on a
        path checked above (lchown and lutimes for a symlink, which has no mode)."""
        fd = where if isinstance(where, int) else None
        if self.as_root:
            uid, gid = self._owner(member)
            try:
                if fd is not None:
                    os.fchown(fd, uid, gid)
                else:
                    os.chown(where, uid, gid, follow_symlinks=False)
            except OSError:
                pass  # as tarfile: an id this host cannot map is not the layer's fault
        if not link:
            if fd is not None:
                os.fchmod(fd, member.mode & 0o7777)
            else:
                os.chmod(where, member.mode & 0o7777)
        try:
            if fd is not None:
                os.utime(fd, (member.mtime, member.mtime))
            else:
                os.utime(where, (member.mtime, member.mtime), follow_symlinks=False)
        except (OSError, OverflowError, ValueError):
            pass  # as tarfile: a time the filesystem cannot hold is left

    def _owner(self, member):
        key = (member.uname, member.gname, member.uid, member.gid)
        if key not in self._owners:
            uid, gid = member.uid, member.gid
            try:
                gid = grp.getgrnam(member.gname)[2] if member.gname else gid
            except KeyError:
                pass
            try:
                uid = pwd.getpwnam(member.uname)[2] if member.uname else uid
            except KeyError:
                pass
            self._owners[key] = (uid, gid)
        return self._owners[key]


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
    raise SystemExit(_main(sys.argv))
