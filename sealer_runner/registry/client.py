"""A compact client for the OCI distribution API, one registry endpoint at a time.

It handles the Docker token flow (Bearer challenges, cached per scope), Basic
auth, TLS with a CA bundle or none, plain HTTP where the config allows it,
retries with backoff on 5xx, 429 and connection errors (honouring a short Retry-After), and verifies the digest of
everything it receives. Higher-level transfers live in :mod:`.transfer`.

Every body is read with a bound: manifests at :data:`MAX_MANIFEST_BYTES`, token answers at
:data:`MAX_TOKEN_BYTES`, error bodies at :data:`MAX_ERROR_BYTES` (the rest is dropped with the
connection), blobs at their descriptor's size (see :mod:`.transfer`).

Credentials go to a Bearer challenge's token realm only over HTTPS, or to the registry's own host
(see :func:`credentials_may_go_to`); redirects to another host never carry the Authorization header
(urllib3 strips it).
"""

from __future__ import annotations

import email.utils
import json
import random
import ssl
import threading
import time
import weakref
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Mapping
from urllib.parse import urlsplit

import urllib3

from ..errors import AuthenticationError, RegistryAnswerError, RegistryError
from ..image.digest import Digest
from ..image.types import MAX_MANIFEST_BYTES
from .auth import Challenge, Credentials, parse_challenge
from .config import Endpoint, RegistryConfig

MANIFEST_ACCEPT = ", ".join([
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
])
USER_AGENT = "sealer_runner"
# pool -> host -> scheme found by probing, so each pool probes a host once
_SCHEMES: "weakref.WeakKeyDictionary[urllib3.PoolManager, dict[str, str]]" = weakref.WeakKeyDictionary()
ATTEMPTS = 4
MAX_RETRY_AFTER = 60.0  # a registry asking for a longer wait (a rate limit's reset) fails the request at once
CHUNK = 1 << 20
MAX_TOKEN_BYTES = 1 << 20  # a token service's answer
MAX_ERROR_BYTES = 64 << 10  # an error (or probe, or 401) body: only its start is shown anyway
# Transport-level: one immediate retry of a stale pooled connection (idempotent methods only);
# status-level retries with backoff are RegistryClient.request's job.
_TRANSPORT_RETRY = urllib3.Retry(total=2, connect=2, read=1, status=0, other=0, redirect=5,
                                 raise_on_redirect=False, raise_on_status=False)


@dataclass(frozen=True)
class ManifestResponse:
    data: bytes
    media_type: str
    digest: Digest


class Response:
    """A streamed HTTP response; close it (or use it as a context manager)."""

    def __init__(self, raw: urllib3.BaseHTTPResponse) -> None:
        self.raw = raw
        self.status = raw.status
        self.headers = raw.headers

    def read(self, limit: int = MAX_ERROR_BYTES, what: str | None = None) -> bytes:
        """The body, at most *limit* bytes: beyond that, :class:`RegistryAnswerError` naming *what*,
        or (with no *what*) the start only, the rest dropped with the connection."""
        try:
            return _read_capped(self.raw, limit, what)
        finally:
            self.close()

    def iter(self, size: int = CHUNK) -> Iterator[bytes]:
        try:
            yield from self.raw.stream(size)
        finally:
            self.close()

    def close(self) -> None:
        """Hand the connection back, or close it if its body was not read to the end. A body with
        nothing left (a HEAD's, a 202's) is still read to its end first: http.client keeps a response
        that was never read attached to its connection, and the next request on that connection from
        the pool would fail ('ResponseNotReady: Request-sent')."""
        if not self.raw.isclosed():
            if self.raw.length_remaining == 0:
                self.raw.drain_conn()
            else:
                self.raw.close()
        self.raw.release_conn()

    def __enter__(self) -> "Response":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class RegistryClient:
    """Talks to one endpoint (a registry or one of its mirrors) on behalf of one registry name."""

    def __init__(self, endpoint: Endpoint, config: RegistryConfig, credentials: Credentials | None = None,
                 pool: urllib3.PoolManager | None = None) -> None:
        self.endpoint = endpoint
        self._config = config
        self._credentials = credentials
        self._pool = pool or make_pool(config, endpoint.host)
        self._scheme = endpoint.scheme
        self._lock = threading.Lock()
        self._tokens: dict[str, tuple[str, float]] = {}  # scope -> (header, expires at)
        self._challenge: Challenge | None = None

    # ------------------------------------------------------------------ plumbing
    def _base(self) -> str:
        if self._scheme is None:
            schemes = _SCHEMES.setdefault(self._pool, {})
            if self.endpoint.host not in schemes:
                schemes[self.endpoint.host] = self._probe_scheme()
            self._scheme = schemes[self.endpoint.host]
        return f"{self._scheme}://{self.endpoint.host}"

    def _probe_scheme(self) -> str:
        """HTTPS, unless the registry speaks plain HTTP and the config allows that for this host."""
        try:
            Response(self._pool.request("GET", f"https://{self.endpoint.host}/v2/", retries=_TRANSPORT_RETRY,
                                        timeout=10, preload_content=False)).close()
            return "https"
        except urllib3.exceptions.HTTPError as exc:
            if self._config.plain_http_allowed(self.endpoint.host) and self._speaks_http():
                return "http"
            if isinstance(exc, urllib3.exceptions.SSLError) or isinstance(getattr(exc, "reason", None),
                                                                         urllib3.exceptions.SSLError):
                raise RegistryError(f"{self.endpoint.host}: TLS failed: {_reason(exc)} (give its CA with "
                                    "--ca-file, or list it with --insecure-registry if you trust the network)") from exc
            raise RegistryError(f"{self.endpoint.host}: unreachable: {_reason(exc)}", retryable=True) from exc

    def _speaks_http(self) -> bool:
        try:
            r = Response(self._pool.request("GET", f"http://{self.endpoint.host}/v2/", retries=_TRANSPORT_RETRY,
                                            timeout=10, preload_content=False))
            return not (r.status == 400 and b"HTTPS" in r.read())
        except urllib3.exceptions.HTTPError:
            return False

    def request(self, method: str, path: str, *, scope: str, headers: Mapping[str, str] | None = None,
                body: bytes | Iterator[bytes] | None = None, ok: tuple[int, ...] = (200,),
                retry: bool = True, absolute: bool = False) -> Response:
        """Send one API request with auth and retries; raise RegistryError unless the status is in *ok*.

        Retries (with jittered backoff) only errors that can pass: connection failures, 5xx, 429. A
        ``Retry-After`` of up to :data:`MAX_RETRY_AFTER` seconds is waited instead of the backoff; a
        longer one ends the retries at once, with the wait it asks for in the error.
        """
        url = path if absolute else self._base() + path
        attempts = ATTEMPTS if retry else 1
        last: RegistryError | None = None
        delay: float | None = None
        for attempt in range(attempts):
            if attempt:
                time.sleep(delay if delay is not None else min(8.0, 0.25 * 2 ** attempt) * (0.5 + random.random()))
            delay = None
            try:
                response = self._send(method, url, scope, headers, body)
            except RegistryError as exc:
                if not exc.retryable:
                    raise
                last = exc
                continue
            if response.status in ok:
                return response
            retry_after = response.headers.get("Retry-After")
            error = self._error(response, method, url)
            if not error.retryable:
                raise error
            delay = _retry_after(retry_after)
            if delay is not None and delay > MAX_RETRY_AFTER:
                raise RegistryError(f"{error} (the registry asks to retry after {delay:.0f} s)",
                                    status=error.status, code=error.code)
            last = error
        assert last is not None
        raise last

    def _send(self, method: str, url: str, scope: str, headers: Mapping[str, str] | None,
              body: bytes | Iterator[bytes] | None) -> Response:
        hdrs = {"User-Agent": USER_AGENT, **(headers or {})}
        auth = self._auth_header(scope)
        if auth:
            hdrs["Authorization"] = auth
        response = self._raw(method, url, hdrs, body)
        if response.status == 401 and isinstance(body, (bytes, type(None))):  # a consumed stream cannot be re-sent
            self._learn(response, scope, sent=auth)
            retry_auth = self._auth_header(scope)
            if retry_auth and retry_auth != auth:  # we now know how to (re)authenticate: try once more
                hdrs["Authorization"] = retry_auth
                response = self._raw(method, url, hdrs, body)
        return response

    def _raw(self, method: str, url: str, headers: dict[str, str], body: bytes | Iterator[bytes] | None) -> Response:
        try:
            raw = self._pool.request(method, url, headers=headers, body=body, preload_content=False,
                                     redirect=True, retries=_TRANSPORT_RETRY, timeout=urllib3.Timeout(connect=15, read=300))
        except urllib3.exceptions.HTTPError as exc:
            raise RegistryError(f"{self.endpoint.host}: {method} failed: {_reason(exc)}", retryable=True) from exc
        return Response(raw)

    # ------------------------------------------------------------------ auth
    def _auth_header(self, scope: str) -> str | None:
        challenge = self._challenge
        if challenge is None:
            return None
        if challenge.scheme == "basic":
            return self._credentials.basic_header() if self._credentials else None
        with self._lock:
            cached = self._tokens.get(scope)
        if cached and cached[1] > time.monotonic():
            return cached[0]
        return self._fetch_token(challenge, scope)

    def _learn(self, response: Response, scope: str, sent: str | None) -> None:
        """Remember a 401's challenge; drop the token that was refused so a fresh one is fetched."""
        response.read()
        challenge = parse_challenge(response.headers.get("WWW-Authenticate", ""))
        if challenge is None:
            return
        self._challenge = challenge
        with self._lock:
            if sent and self._tokens.get(scope, ("",))[0] == sent:
                del self._tokens[scope]

    def _fetch_token(self, challenge: Challenge, scope: str) -> str:
        realm = challenge.params.get("realm")
        if not realm:
            raise AuthenticationError(f"{self.endpoint.host}: Bearer challenge without a realm")
        fields: list[tuple[str, str]] = []
        if service := challenge.params.get("service"):
            fields.append(("service", service))
        for item in scope.split(" "):
            if item:
                fields.append(("scope", item))
        headers = {"User-Agent": USER_AGENT}
        if self._credentials is not None:
            if not credentials_may_go_to(realm, self.endpoint.host):
                raise RegistryAnswerError(
                    f"{self.endpoint.host}: refusing to send credentials to the token service {realm}: it is neither "
                    "HTTPS nor the registry's own host (a registry may only send credentials to such a realm)")
            headers["Authorization"] = self._credentials.basic_header()
            fields.append(("account", self._credentials.username))
        try:
            raw = self._pool.request("GET", realm, fields=fields, headers=headers, timeout=30, retries=2,
                                     preload_content=False)
        except urllib3.exceptions.HTTPError as exc:
            raise RegistryError(f"token service {realm}: {_reason(exc)}", retryable=True) from exc
        r = Response(raw)
        if r.status in (401, 403):
            r.close()
            raise AuthenticationError(f"{self.endpoint.host}: authentication failed: the token service refused "
                                      "the credentials" if self._credentials else
                                      f"{self.endpoint.host}: authentication required (sealer_runner login)",
                                      status=r.status)
        if r.status != 200:
            r.close()
            raise RegistryError(f"token service {realm} answered {r.status}", status=r.status, retryable=r.status >= 500)
        body = r.read(MAX_TOKEN_BYTES, f"token service {realm}: answer")
        try:
            data = json.loads(body)
            token = data.get("token") or data["access_token"]
            if not isinstance(token, str) or not token.isprintable():
                raise ValueError
            lifetime = max(30, int(data.get("expires_in") or 60))
        except (ValueError, KeyError, AttributeError, TypeError, RecursionError):
            raise RegistryAnswerError(f"token service {realm}: malformed answer") from None
        expires = time.monotonic() + lifetime - 10
        header = f"Bearer {token}"
        with self._lock:
            self._tokens[scope] = (header, expires)
        return header

    # ------------------------------------------------------------------ errors
    def _error(self, response: Response, method: str, url: str) -> RegistryError:
        body = response.read()[:4096]  # at most MAX_ERROR_BYTES are read
        code, message = _registry_error(body)
        status = response.status
        where = f"{self.endpoint.host}: {method} {url.split(self.endpoint.host, 1)[-1].split('?')[0]}"
        if status == 401:
            detail = "authentication failed: wrong username or password" if self._credentials else \
                "authentication required (sealer_runner login)"
            return AuthenticationError(f"{where}: {detail}", status=status, code=code)
        if status == 403:
            return AuthenticationError(f"{where}: access denied{': ' + message if message else ''}",
                                       status=status, code=code)
        text = f"{where}: {status} {code or ''} {message or ''}".strip()
        return RegistryError(text, status=status, code=code, retryable=status >= 500 or status == 429)

    # ------------------------------------------------------------------ API
    def ping(self) -> None:
        """Check reachability and credentials (``GET /v2/``)."""
        self.request("GET", "/v2/", scope="").read()

    def get_manifest(self, repo: str, reference: str) -> ManifestResponse:
        scope = f"repository:{repo}:pull"
        r = self.request("GET", f"/v2/{repo}/manifests/{reference}", scope=scope, headers={"Accept": MANIFEST_ACCEPT})
        data = r.read(MAX_MANIFEST_BYTES, f"{self.endpoint.host}/{repo}@{reference}: manifest")
        digest = Digest.of_bytes(data)
        expected = reference if reference.startswith("sha256:") else r.headers.get("Docker-Content-Digest")
        if expected and expected != str(digest):
            raise RegistryAnswerError(f"{self.endpoint.host}/{repo}@{reference}: manifest digest mismatch: "
                                f"expected {expected}, got {digest}")
        media_type = r.headers.get("Content-Type", "").split(";")[0].strip()
        if not media_type or media_type in ("application/json", "text/plain"):
            media_type = _media_type_of(data)
        return ManifestResponse(data, media_type, digest)

    def blob_exists(self, repo: str, digest: Digest, scope: str | None = None) -> bool:
        r = self.request("HEAD", f"/v2/{repo}/blobs/{digest}", scope=scope or f"repository:{repo}:pull",
                         ok=(200, 404))
        r.close()
        return r.status == 200

    def open_blob(self, repo: str, digest: Digest, offset: int = 0) -> Response:
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        return self.request("GET", f"/v2/{repo}/blobs/{digest}", scope=f"repository:{repo}:pull",
                            headers=headers, ok=(200, 206))

    def mount_blob(self, repo: str, digest: Digest, source_repo: str) -> str | None:
        """Ask for a cross-repository mount; None if mounted, else the upload URL the registry opened."""
        scope = f"repository:{repo}:pull,push repository:{source_repo}:pull"
        r = self.request("POST", f"/v2/{repo}/blobs/uploads/?mount={digest}&from={source_repo}", scope=scope,
                         ok=(201, 202))
        r.read()
        return None if r.status == 201 else self._location(r)

    def start_upload(self, repo: str) -> str:
        r = self.request("POST", f"/v2/{repo}/blobs/uploads/", scope=f"repository:{repo}:pull,push", ok=(202,))
        r.read()
        return self._location(r)

    def upload_chunk(self, repo: str, location: str, data: bytes | bytearray, start: int) -> str:
        """Send bytes ``start..start+len(data)-1`` of a blob in one PATCH with its ``Content-Range`` (the OCI
        chunked upload); returns the next location. Not retried here: see :meth:`upload_status`."""
        headers = {"Content-Type": "application/octet-stream", "Content-Range": f"{start}-{start + len(data) - 1}"}
        r = self.request("PATCH", location, scope=f"repository:{repo}:pull,push", absolute=True, body=data,
                         headers=headers, ok=(202,), retry=False)
        r.read()
        return self._location(r)

    def upload_status(self, repo: str, location: str) -> tuple[str, int]:
        """Where an upload stands: its location and how many bytes the registry holds (``GET`` on the upload:
        204 with ``Range: 0-LAST``), so a failed chunk is sent again from there."""
        r = self.request("GET", location, scope=f"repository:{repo}:pull,push", absolute=True, ok=(204,))
        r.read()
        held = r.headers.get("Range", "0--1").strip()
        first, _, last = held.partition("-")
        if first != "0" or not last.lstrip("-").isdigit():
            raise RegistryAnswerError(f"{self.endpoint.host}: upload status with a malformed Range {held[:40]!r}")
        return (self._location(r) if r.headers.get("Location") else location), max(0, int(last) + 1)

    def finish_upload(self, repo: str, location: str, digest: Digest, data: bytes = b"") -> None:
        sep = "&" if "?" in location else "?"
        r = self.request("PUT", f"{location}{sep}digest={digest}", scope=f"repository:{repo}:pull,push",
                         absolute=True, body=data, headers={"Content-Type": "application/octet-stream"},
                         ok=(201, 204), retry=False)
        r.read()

    def put_manifest(self, repo: str, reference: str, data: bytes, media_type: str) -> None:
        r = self.request("PUT", f"/v2/{repo}/manifests/{reference}", scope=f"repository:{repo}:pull,push",
                         body=data, headers={"Content-Type": media_type}, ok=(201, 202))
        r.read()

    def _location(self, r: Response) -> str:
        location = r.headers.get("Location")
        if not location:
            raise RegistryError(f"{self.endpoint.host}: upload response without a Location")
        if location.startswith("/"):
            location = self._base() + location
        return location


def make_pool(config: RegistryConfig, host: str) -> urllib3.PoolManager:
    verify = config.verify_tls(host)
    kwargs: dict[str, Any] = {"num_pools": 8, "maxsize": 8, "block": False}
    if verify:
        context = ssl.create_default_context()
        if config.ca_file:
            context.load_verify_locations(config.ca_file)  # in addition to the system's CAs
        kwargs["ssl_context"] = context
    else:
        kwargs["cert_reqs"] = ssl.CERT_NONE
        kwargs["assert_hostname"] = False
        urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
    return urllib3.PoolManager(**kwargs)


def credentials_may_go_to(realm: str, registry_host: str) -> bool:
    """The credential rule: Basic credentials go to a token realm over HTTPS, or to the registry's own
    host name (which already receives them); never in clear text to anywhere else a registry names."""
    parts = urlsplit(realm)
    if parts.scheme == "https":
        return True
    registry = urlsplit(f"//{registry_host}").hostname or ""
    return parts.scheme == "http" and (parts.hostname or "").lower() == registry.lower()


def _read_capped(raw: urllib3.BaseHTTPResponse, limit: int, what: str | None) -> bytes:
    length = raw.headers.get("Content-Length", "")
    if what is not None and length.isdigit() and int(length) > limit:
        raise RegistryAnswerError(f"{what}: {length} bytes is over the {limit}-byte cap")
    try:
        data = raw.read(limit + 1)
    except urllib3.exceptions.HTTPError as exc:
        raise RegistryError(f"reading {what or 'an answer'}: {_reason(exc)}", retryable=True) from exc
    if len(data) > limit:
        if what is not None:
            raise RegistryAnswerError(f"{what}: over the {limit}-byte cap")
        data = data[:limit]
    return data


def _registry_error(body: bytes) -> tuple[str | None, str | None]:
    try:
        errors = json.loads(body).get("errors") or []
        first = errors[0]
        if not isinstance(first, dict):
            raise TypeError
        return str(first.get("code") or "") or None, str(first.get("message") or "") or None
    except (ValueError, AttributeError, IndexError, TypeError, KeyError, RecursionError):
        return None, body.decode("utf-8", "replace").strip()[:200] or None


def _media_type_of(data: bytes) -> str:
    try:
        obj = json.loads(data)
    except (ValueError, RecursionError):
        return ""
    if not isinstance(obj, dict):
        return ""
    if isinstance(obj.get("mediaType"), str) and obj["mediaType"]:
        return str(obj["mediaType"])
    return "application/vnd.oci.image.index.v1+json" if "manifests" in obj else "application/vnd.oci.image.manifest.v1+json"


def _retry_after(value: str | None) -> float | None:
    """A ``Retry-After`` header's wait in seconds (delta-seconds or an HTTP date), None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - time.time())


def _reason(exc: Exception) -> str:
    reason = getattr(exc, "reason", None)
    return str(reason or exc)


ProgressFn = Callable[[int], None]
