"""Pull images from registries into the store, and push them back out.

Blobs move in parallel, each verified against its digest; a blob the other
side already has is skipped (HEAD, or present in the store); an interrupted
download keeps its bytes and resumes with a Range request on the next run;
pushes try a cross-repository mount before uploading.

What a registry sends is checked before the store takes it: manifests, indexes and configs go through
the strict decoders of :mod:`..image.types` (4 MiB cap), a blob is read only up to its descriptor's size
(one byte more fails the download and drops it), layers must read as (gzip'd) tars. Any of these
failures is a :class:`RegistryAnswerError` naming the reference and the field.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import urllib3

from ..errors import AuthenticationError, ImageNotFound, InvalidImage, RegistryAnswerError, RegistryError
from ..image.digest import Digest, sha256_file
from ..image.reference import Reference
from ..image.store import Store, TaggedImage, image_children
from ..image.tarcheck import layer_file_problem
from ..image.types import (
    CONFIG_TYPES,
    INDEX_TYPES,
    LAYER_TYPES,
    MANIFEST_TYPES,
    Descriptor,
    Index,
    MAX_MANIFEST_BYTES,
    Manifest,
    Platform,
    decode_config,
    decode_index,
    decode_manifest,
)
from ..util.lock import file_lock
from .auth import CredentialSource, Credentials, PinnedCredentials
from .client import RegistryClient, make_pool
from .config import RegistryConfig

WORKERS = 4
CHUNK_SIZE = 32 << 20  # a blob up to this goes in one PUT, a larger one in PATCH requests of this size
MONOLITHIC_LIMIT = CHUNK_SIZE
BLOB_ATTEMPTS = 3


class TransferReporter:
    """Receives transfer progress; the default does nothing."""

    def blob_started(self, digest: Digest, size: int) -> None: ...
    def blob_resumed(self, digest: Digest, offset: int) -> None: ...
    def blob_progress(self, digest: Digest, n: int) -> None: ...
    def blob_done(self, digest: Digest, skipped: bool) -> None: ...


@dataclass
class Registries:
    """Makes clients for a registry name: its mirrors first, then itself; one pool per host."""

    config: RegistryConfig
    auth: CredentialSource

    def __post_init__(self) -> None:
        self._pools: dict[str, urllib3.PoolManager] = {}

    def with_credentials(self, registry: str, credentials: Credentials) -> "Registries":
        """The same registries, with *credentials* used for *registry* instead of the kept ones."""
        return Registries(self.config, PinnedCredentials(registry, credentials, self.auth))

    def clients(self, registry: str, *, mirrors: bool = True) -> list[RegistryClient]:
        endpoints = self.config.endpoints(registry)
        if not mirrors:
            endpoints = [e for e in endpoints if not e.is_mirror]
        return [self._client(registry, e) for e in endpoints]

    def login_client(self, registry: str, credentials: Credentials) -> RegistryClient:
        """A client for *registry* itself (never a mirror) using *credentials*, to check them."""
        endpoint = self.config.endpoints(registry)[-1]
        return RegistryClient(endpoint, self.config, credentials, self._pool(endpoint.host))

    def _pool(self, host: str) -> urllib3.PoolManager:
        pool = self._pools.get(host)
        if pool is None:
            pool = self._pools[host] = make_pool(self.config, host)
        return pool

    def _client(self, registry: str, endpoint) -> RegistryClient:
        credentials = self.auth.get(endpoint.host if endpoint.is_mirror else registry)
        return RegistryClient(endpoint, self.config, credentials, self._pool(endpoint.host))


# ----------------------------------------------------------------------------- pull


@dataclass(frozen=True)
class FetchedImage:
    """An image whose manifests and blobs are now in the store (untagged)."""

    reference: Reference
    top: Descriptor  # the index, or the single manifest
    manifests: tuple[Descriptor, ...]  # the platform manifests fetched (with their platforms)
    blobs: frozenset[Digest]  # configs and layers

    def all_digests(self) -> list[Digest]:
        """Every blob of the image, manifests included, in a stable order."""
        return sorted({self.top.digest, *(m.digest for m in self.manifests), *self.blobs})


def pull(store: Store, ref: Reference, registries: Registries, *, platform: Platform | None = None,
         reporter: TransferReporter | None = None) -> Descriptor:
    """Pull *ref* (every platform, or just *platform*) into *store* and tag it; returns what the tag points at."""
    fetched = fetch(store, ref, registries, platforms=[platform] if platform else None, reporter=reporter)
    desc = fetched.manifests[0] if platform is not None else fetched.top
    store.tag(ref, desc)
    return desc


def fetch(store: Store, ref: Reference, registries: Registries, *, platforms: list[Platform] | None = None,
          reporter: TransferReporter | None = None) -> FetchedImage:
    """Bring *ref*'s manifests and blobs (all platforms, or those listed) into *store*, trying mirrors first."""
    reporter = reporter or TransferReporter()
    failures = []
    hostile = False
    for client in registries.clients(ref.domain):
        try:
            return _fetch_from(client, store, ref, platforms, reporter)
        except AuthenticationError:
            if not client.endpoint.is_mirror:
                raise
            failures.append(f"mirror {client.endpoint}: authentication failed")
        except RegistryError as exc:
            hostile = isinstance(exc, RegistryAnswerError)  # as the last endpoint (the registry itself) answered
            failures.append(f"{'mirror ' if client.endpoint.is_mirror else ''}{client.endpoint}: {exc}")
    raise (RegistryAnswerError if hostile else RegistryError)(f"cannot pull {ref}: " + "; ".join(failures))


def _fetch_from(client: RegistryClient, store: Store, ref: Reference, platforms: list[Platform] | None,
                reporter: TransferReporter) -> FetchedImage:
    try:
        return _fetch_checked(client, store, ref, platforms, reporter)
    except RegistryError:
        raise
    except InvalidImage as exc:
        raise RegistryAnswerError(f"{client.endpoint}: {exc}") from None


def _fetch_checked(client: RegistryClient, store: Store, ref: Reference, platforms: list[Platform] | None,
                   reporter: TransferReporter) -> FetchedImage:
    repo = ref.path
    top = client.get_manifest(repo, ref.identifier)
    with store.writing():
        if top.media_type in INDEX_TYPES:
            index = decode_index(top.data, f"{ref}: index {top.digest}")
            children = _select(index, platforms, ref)
            manifests = [(child, client.get_manifest(repo, str(child.digest))) for child in children]
        elif top.media_type in MANIFEST_TYPES:
            manifests = [(None, top)]
        else:
            raise RegistryAnswerError(f"{ref}: unsupported manifest media type {top.media_type!r}")
        blobs: dict[Digest, Descriptor] = {}
        decoded = []
        for child, m in manifests:
            if child is not None and child.media_type != m.media_type:
                raise RegistryAnswerError(f"{ref}: manifest {m.digest} is {m.media_type!r}, its index says "
                                          f"{child.media_type!r}")
            if child is not None and child.size != len(m.data):
                raise RegistryAnswerError(f"{ref}: manifest {m.digest} is {len(m.data)} bytes, its index says "
                                          f"{child.size}")
            manifest = decode_manifest(m.data, f"{ref}: manifest {m.digest}")
            decoded.append(manifest)
            for desc in (manifest.config, *manifest.layers):
                blobs.setdefault(desc.digest, desc)
        configs = {m.config.digest: m for m in decoded}
        _download_all(client, store, repo, list(blobs.values()), reporter, configs)
        configs = [decode_config(_read_new(store, m.config), f"{ref}: config {m.config.digest}", m) for m in decoded]
        descs = []
        for (child, m), config in zip(manifests, configs, strict=True):
            store.put_bytes(m.data)
            found = child.platform if child is not None else Platform(
                str(config.get("os") or "linux"), str(config.get("architecture") or ""), str(config.get("variant") or ""))
            descs.append(Descriptor(m.media_type, m.digest, len(m.data), platform=found))
        store.put_bytes(top.data)
        top_desc = descs[0] if top.media_type in MANIFEST_TYPES else Descriptor(top.media_type, top.digest,
                                                                               len(top.data))
        return FetchedImage(ref, top_desc, tuple(descs), frozenset(blobs))


def _read_new(store: Store, desc: Descriptor) -> bytes:
    """A config in the store (capped when downloaded; one already there was checked when it came)."""
    if desc.size > MAX_MANIFEST_BYTES:
        raise RegistryAnswerError(f"config {desc.digest}: {desc.size} bytes is over the {MAX_MANIFEST_BYTES}-byte "
                                  "cap for image metadata")
    return store.read_blob(desc.digest)


def _select(index: Index, platforms: list[Platform] | None, ref: Reference) -> list[Descriptor]:
    images = [d for d in image_children(index) if d.media_type in MANIFEST_TYPES]
    if platforms is None:
        return images
    chosen = []
    for platform in platforms:
        match = next((d for d in images if d.platform and _matches(d.platform, platform)), None)
        if match is None:
            have = ", ".join(str(d.platform) for d in images if d.platform)
            raise ImageNotFound(f"{ref} has no {platform} variant (it has: {have})")
        chosen.append(match)
    return chosen


def _matches(have: Platform, want: Platform) -> bool:
    return (have.os, have.architecture) == (want.os, want.architecture) and \
        (not want.variant or have.variant == want.variant)


# A pull waits for a side-by-side pull of the same blobs to finish rather than fail.
BLOB_LOCK_WAIT = 6 * 3600.0


def _download_all(client: RegistryClient, store: Store, repo: str, blobs: list[Descriptor],
                  reporter: TransferReporter, manifests: dict[Digest, Manifest]) -> None:
    """Download and check every blob; the store takes them only once all have passed. A hostile answer
    drops what this pull downloaded; an interrupted one keeps it for the next run to resume.

    Images fetched side by side share blobs: one download per blob, across threads and processes. Each
    pull holds the lock of every blob it still needs until the store has taken them all; the locks are
    taken in digest order, before any download, so two pulls sharing blobs can never wait on each other
    in a cycle (the second finds the blobs stored and skips them)."""
    held: list[Descriptor] = []
    guard = threading.Lock()
    with ExitStack() as locks:
        for desc in sorted(blobs, key=lambda d: str(d.digest)):
            if not store.has_blob(desc.digest):
                partial = store.partial_path(desc.digest)
                locks.enter_context(file_lock(partial.with_name(partial.name + ".lock"), timeout=BLOB_LOCK_WAIT))

        def one(desc: Descriptor) -> None:
            if store.has_blob(desc.digest):
                reporter.blob_done(desc.digest, skipped=True)
                return
            _download_locked(client, repo, desc, store.partial_path(desc.digest), reporter)
            with guard:
                held.append(desc)

        try:
            _parallel(one, blobs)
            for desc in held:  # a config must also match its manifest (one diff_id per layer)
                if desc.media_type in CONFIG_TYPES:
                    path = store.partial_path(desc.digest)
                    decode_config(path.read_bytes(), f"{client.endpoint}/{repo}: config {desc.digest}",
                                  manifests.get(desc.digest))
            for desc in held:
                store.adopt_verified(store.partial_path(desc.digest), desc.digest)
                reporter.blob_done(desc.digest, skipped=False)
        except (RegistryAnswerError, InvalidImage):
            for desc in held:
                store.partial_path(desc.digest).unlink(missing_ok=True)
            raise


def _download_locked(client: RegistryClient, repo: str, desc: Descriptor, partial: Path,
                     reporter: TransferReporter) -> None:
    reporter.blob_started(desc.digest, desc.size)
    for attempt in range(BLOB_ATTEMPTS):
        try:
            _fetch_into(client, repo, desc, partial, reporter)
            break
        except RegistryError as exc:
            if not exc.retryable or attempt == BLOB_ATTEMPTS - 1:
                raise
    actual = sha256_file(str(partial))
    if actual != desc.digest:
        partial.unlink()
        raise RegistryAnswerError(f"{client.endpoint}/{repo}: blob {desc.digest} arrived as {actual}: "
                                  "content does not match its digest")
    try:
        _check_content(partial, desc, f"{client.endpoint}/{repo}")
    except InvalidImage as exc:
        partial.unlink()
        raise RegistryAnswerError(str(exc)) from None


def _check_content(path: Path, desc: Descriptor, where: str) -> None:
    """A config must decode, a layer must read as the tar its media type says, before the store takes it."""
    if desc.media_type in LAYER_TYPES:
        if problem := layer_file_problem(str(path), desc.media_type):
            raise InvalidImage(f"{where}: layer {desc.digest} is {problem}")
    else:
        decode_config(path.read_bytes(), f"{where}: config {desc.digest}")


def _fetch_into(client: RegistryClient, repo: str, desc: Descriptor, partial: Path, reporter: TransferReporter) -> None:
    if desc.media_type not in CONFIG_TYPES | LAYER_TYPES:
        raise RegistryAnswerError(f"{client.endpoint}/{repo}: blob {desc.digest}: unsupported media type "
                                  f"{desc.media_type!r}")
    if desc.media_type in CONFIG_TYPES and desc.size > MAX_MANIFEST_BYTES:
        raise RegistryAnswerError(f"{client.endpoint}/{repo}: config {desc.digest}: {desc.size} bytes is over the "
                                  f"{MAX_MANIFEST_BYTES}-byte cap for image metadata")
    offset = partial.stat().st_size if partial.exists() else 0
    if offset >= desc.size:
        offset = 0
    response = client.open_blob(repo, desc.digest, offset)
    if response.status == 200:
        offset = 0
    if offset:
        reporter.blob_resumed(desc.digest, offset)
    length = response.headers.get("Content-Length", "")
    if length.isdigit() and offset + int(length) > desc.size:
        response.close()
        partial.unlink(missing_ok=True)
        raise RegistryAnswerError(f"{client.endpoint}/{repo}: blob {desc.digest} is announced as "
                                  f"{offset + int(length)} bytes, its descriptor says {desc.size}")
    written = offset
    try:
        with open(partial, "ab" if offset else "wb") as f:
            for chunk in response.iter():
                written += len(chunk)
                if written > desc.size:  # never keep more than the descriptor promised
                    f.truncate(0)
                    break
                f.write(chunk)
                reporter.blob_progress(desc.digest, len(chunk))
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        raise RegistryError(f"{client.endpoint}/{repo}: download of {desc.digest} interrupted: {exc}",
                            retryable=True) from exc
    if written > desc.size:
        partial.unlink(missing_ok=True)
        raise RegistryAnswerError(f"{client.endpoint}/{repo}: blob {desc.digest} is longer than the {desc.size} "
                                  "bytes its descriptor records: dropped")


# ----------------------------------------------------------------------------- push


@dataclass(frozen=True)
class PushPlan:
    """What one push sends, all from the store: blobs (configs and layers), then the child manifests
    of an index by digest, then the top manifest by the destination's tag (or its digest)."""

    blobs: tuple[Descriptor, ...]
    children: tuple[Descriptor, ...]
    top: Descriptor


def push(store: Store, image: TaggedImage, dest: Reference, registries: Registries,
         reporter: TransferReporter | None = None) -> Digest:
    """Push *image* to *dest*; returns the pushed (top) manifest digest."""
    top = image.descriptor
    platforms = store.platform_manifests(top)
    blobs: dict[Digest, Descriptor] = {}
    for pm in platforms:
        for desc in (pm.manifest.config, *pm.manifest.layers):
            blobs.setdefault(desc.digest, desc)
    children = tuple(pm.descriptor for pm in platforms) if top.media_type in INDEX_TYPES else ()
    return push_plan(store, PushPlan(tuple(blobs.values()), children, top), dest, registries, reporter)


def push_plan(store: Store, plan: PushPlan, dest: Reference, registries: Registries,
              reporter: TransferReporter | None = None) -> Digest:
    """Send *plan* to *dest*: blobs the registry has are skipped; returns the top manifest's digest."""
    reporter = reporter or TransferReporter()
    client = registries.clients(dest.domain, mirrors=False)[0]
    repo = dest.path
    sources = _mount_sources(store, dest)
    _parallel(lambda d: _upload(client, store, repo, d, sources, reporter), plan.blobs)
    for child in plan.children:
        client.put_manifest(repo, str(child.digest), store.read_blob(child.digest), child.media_type)
    top = plan.top
    client.put_manifest(repo, dest.tag or str(top.digest), store.read_blob(top.digest), top.media_type)
    return top.digest


def _mount_sources(store: Store, dest: Reference) -> list[str]:
    """Other repositories of the same registry we know of: candidates for a cross-repository mount."""
    return sorted({i.reference.path for i in store.list_images()
                   if i.reference.domain == dest.domain and i.reference.path != dest.path})


def _upload(client: RegistryClient, store: Store, repo: str, desc: Descriptor, sources: list[str],
            reporter: TransferReporter) -> None:
    """Send one blob, unless the registry has it or can mount it. A failure that can pass starts the blob
    over (its HEAD first: the failed attempt may have landed), up to :data:`BLOB_ATTEMPTS` times."""
    for attempt in range(BLOB_ATTEMPTS):
        try:
            _upload_once(client, store, repo, desc, sources, reporter)
            return
        except RegistryError as exc:
            if not exc.retryable or attempt == BLOB_ATTEMPTS - 1:
                raise


def _upload_once(client: RegistryClient, store: Store, repo: str, desc: Descriptor, sources: list[str],
                 reporter: TransferReporter) -> None:
    if client.blob_exists(repo, desc.digest, scope=f"repository:{repo}:pull,push"):
        reporter.blob_done(desc.digest, skipped=True)
        return
    reporter.blob_started(desc.digest, desc.size)
    location = None
    for source in sources[:3]:
        location = client.mount_blob(repo, desc.digest, source)
        if location is None:
            reporter.blob_done(desc.digest, skipped=True)
            return
    location = location or client.start_upload(repo)
    if desc.size <= MONOLITHIC_LIMIT:
        data = store.read_blob(desc.digest)
        client.finish_upload(repo, location, desc.digest, data)
        reporter.blob_progress(desc.digest, len(data))
    else:
        location = _send_chunks(client, store, repo, desc, location, reporter)
        client.finish_upload(repo, location, desc.digest)
    reporter.blob_done(desc.digest, skipped=False)


def _send_chunks(client: RegistryClient, store: Store, repo: str, desc: Descriptor, location: str,
                 reporter: TransferReporter) -> str:
    """PATCH the blob in :data:`CHUNK_SIZE` pieces, each with its Content-Range: a proxy's body-size limit
    (nginx's client_max_body_size, a CDN's) passes, and a chunk that fails is sent again from where the
    registry's upload status says it stands, not from the blob's start (or, when the registry cannot say,
    the whole blob starts over). Returns the location to PUT."""
    offset, reported = 0, 0
    for attempt in range(BLOB_ATTEMPTS):
        try:
            for start, chunk in _chunks(store, desc.digest, offset):
                location = client.upload_chunk(repo, location, chunk, start)
                end = start + len(chunk)
                if end > reported:
                    reporter.blob_progress(desc.digest, end - reported)
                    reported = end
            return location
        except RegistryError as exc:
            if not exc.retryable or attempt == BLOB_ATTEMPTS - 1:
                raise
            try:
                location, offset = client.upload_status(repo, location)
            except RegistryError:  # the registry cannot say (distribution's state token is one answer behind
                raise exc from None  # when a PATCH's answer was lost): the blob starts over, see _upload
    raise AssertionError("unreachable")


def _chunks(store: Store, digest: Digest, offset: int) -> Iterator[tuple[int, bytearray]]:
    """``(start, bytes)`` pieces of :data:`CHUNK_SIZE` of a stored blob from *offset*; the blob is read whole
    and verified, so a damaged local blob fails before its last piece is sent."""
    position, start, buf = 0, offset, bytearray()
    for block in store.iter_blob(digest):
        if position + len(block) > offset:
            buf += block[max(0, offset - position):]
        position += len(block)
        while len(buf) >= CHUNK_SIZE:
            piece, buf = buf[:CHUNK_SIZE], buf[CHUNK_SIZE:]
            yield start, piece
            start += len(piece)
    if buf:
        yield start, buf


def _parallel(fn, items) -> None:
    items = list(items)
    if not items:
        return
    with ThreadPoolExecutor(min(WORKERS, len(items)), thread_name_prefix="blob") as pool:
        for future in [pool.submit(fn, item) for item in items]:
            future.result()
