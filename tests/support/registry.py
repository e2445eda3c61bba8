"""Real `docker-registry` (distribution) servers on loopback for tests, with optional TLS and htpasswd."""

from __future__ import annotations

import datetime
import ipaddress
import socket
import subprocess
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import bcrypt
import urllib3
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

BINARY = "/usr/bin/docker-registry"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class TLSFiles:
    ca: Path
    cert: Path
    key: Path


def make_tls(directory: Path) -> TLSFiles:
    """A throwaway CA and a server certificate for 127.0.0.1/localhost."""
    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sealer_runner test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
          .not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
            .sign(ca_key, hashes.SHA256()))
    files = TLSFiles(directory / "ca.crt", directory / "server.crt", directory / "server.key")
    files.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    files.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files.key.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                            serialization.NoEncryption()))
    return files


def htpasswd_line(user: str, password: str) -> str:
    return f"{user}:{bcrypt.hashpw(password.encode(), bcrypt.gensalt(4)).decode()}"


class RegistryServer:
    """One docker-registry process; ``host`` is ``ADDRESS:PORT`` (loopback unless told: test hosts reach
    this machine at their bridge's gateway address)."""

    def __init__(self, directory: Path, *, tls: TLSFiles | None = None, users: dict[str, str] | None = None,
                 storage: Path | None = None, readonly: bool = False, token_realm: str | None = None,
                 token_ca: Path | None = None, address: str = "127.0.0.1") -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.storage = storage or directory / "storage"
        self.port = free_port()
        self.host = f"{address}:{self.port}"
        self.tls = tls
        self.url = f"{'https' if tls else 'http'}://{self.host}"
        lines = ["version: 0.1", "log: {level: warn}", "storage:",
                 f"  filesystem: {{rootdirectory: {self.storage}}}", "  delete: {enabled: true}",
                 f"  maintenance: {{readonly: {{enabled: {str(readonly).lower()}}}}}",
                 "http:", f"  addr: {self.host}", "  secret: sealer-runner-tests"]
        if tls:
            lines += [f"  tls: {{certificate: {tls.cert}, key: {tls.key}}}"]
        if users:
            htpasswd = directory / "htpasswd"
            htpasswd.write_text("".join(htpasswd_line(u, p) + "\n" for u, p in users.items()))
            lines += ["auth:", f"  htpasswd: {{realm: test-registry, path: {htpasswd}}}"]
        elif token_realm:
            lines += ["auth:", "  token:", f"    realm: {token_realm}", "    service: test-registry",
                      "    issuer: sealer-runner-test-token", f"    rootcertbundle: {token_ca}"]
        self.config = directory / "config.yml"
        self.config.write_text("\n".join(lines) + "\n")
        self._proc: subprocess.Popen | None = None

    def start(self) -> "RegistryServer":
        self._proc = serve(self.config, self.directory / "registry.log", self.url)
        return self

    def stop(self) -> None:
        stop(self._proc)
        self._proc = None

    def __enter__(self) -> "RegistryServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve(config: Path, log_path: Path, url: str) -> subprocess.Popen:
    """``docker-registry serve CONFIG``, once ``URL/v2/`` answers (any status)."""
    log = open(log_path, "ab")
    proc = subprocess.Popen([BINARY, "serve", str(config)], stdout=log, stderr=log)
    pool = urllib3.PoolManager(cert_reqs="CERT_NONE")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"docker-registry exited: {log_path.read_text()}")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                pool.request("GET", f"{url}/v2/", retries=False, timeout=1)
            return proc
        except urllib3.exceptions.HTTPError:
            time.sleep(0.05)
    stop(proc)
    raise RuntimeError("docker-registry did not start")


def stop(proc: subprocess.Popen | None) -> None:
    if proc is not None and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
