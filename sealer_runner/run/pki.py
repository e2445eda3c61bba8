"""The cluster's own CA and the embedded registry's certificate, kept in the cluster state dir.

The CA is made once per cluster (key 0600) and reused on every run, so re-runs change nothing on
the hosts; the registry certificate is re-issued only when its names change.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ..util.fs import atomic_write_bytes

VALIDITY = datetime.timedelta(days=3650)


@dataclass(frozen=True)
class RegistryPKI:
    ca_cert: Path
    cert: Path
    key: Path


def ensure_registry_pki(directory: Path, cluster: str, names: list[str], ips: list[str]) -> RegistryPKI:
    """The cluster CA and a registry certificate for *names* and *ips* (made or reused)."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_cert_path, ca_key_path = directory / "ca.crt", directory / "ca.key"
    if not ca_cert_path.exists() or not ca_key_path.exists():
        _new_ca(ca_cert_path, ca_key_path, cluster)
    ca_key = serialization.load_pem_private_key(ca_key_path.read_bytes(), None)
    ca_cert = x509.load_pem_x509_certificate(ca_cert_path.read_bytes())
    cert_path, key_path, sans_path = directory / "registry.crt", directory / "registry.key", directory / "registry.sans"
    sans = json.dumps({"names": sorted(set(names)), "ips": sorted(set(ips))}).encode()
    if not (cert_path.exists() and key_path.exists() and sans_path.exists() and sans_path.read_bytes() == sans):
        _new_leaf(ca_cert, ca_key, cert_path, key_path, names, ips)
        atomic_write_bytes(sans_path, sans)
    return RegistryPKI(ca_cert_path, cert_path, key_path)


def _new_ca(cert_path: Path, key_path: Path, cluster: str) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"sealer_runner CA for cluster {cluster}")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + VALIDITY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
            .sign(key, hashes.SHA256()))
    atomic_write_bytes(key_path, _key_pem(key), mode=0o600)
    atomic_write_bytes(cert_path, cert.public_bytes(serialization.Encoding.PEM))


def _new_leaf(ca_cert: x509.Certificate, ca_key, cert_path: Path, key_path: Path, names: list[str],
              ips: list[str]) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    alt = [x509.DNSName(n) for n in sorted(set(names))] + [x509.IPAddress(ipaddress.ip_address(i))
                                                           for i in sorted(set(ips))]
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, sorted(set(names))[0])]))
            .issuer_name(ca_cert.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + VALIDITY)
            .add_extension(x509.SubjectAlternativeName(alt), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    atomic_write_bytes(key_path, _key_pem(key), mode=0o600)
    atomic_write_bytes(cert_path, cert.public_bytes(serialization.Encoding.PEM))


def _key_pem(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())
