"""Kubernetes versions, and the kubeadm configuration API each one reads."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import InputError

_VERSION = re.compile(r"^v?(\d{1,3})\.(\d{1,3})\.(\d{1,4})(?:[-+][0-9A-Za-z.+-]{1,64})?$")

#: kubeadm API versions by the first Kubernetes minor that writes them (kubeadm reads the previous one
#: for a few releases more, but writes, and documents, only its newest).
API_BY_MINOR: tuple[tuple[int, str], ...] = (
    (15, "kubeadm.k8s.io/v1beta2"),
    (22, "kubeadm.k8s.io/v1beta3"),
    (31, "kubeadm.k8s.io/v1beta4"),
)
#: The Kubernetes minors whose kubeadm reads each API version (informative: documents of any of them
#: are converted to the version's own API before they reach a host, as sealer's basefs images ship a
#: v1beta2 etc/kubeadm.yml for every version).
API_RANGE: dict[str, tuple[int, int]] = {
    "kubeadm.k8s.io/v1beta2": (15, 25),
    "kubeadm.k8s.io/v1beta3": (22, 35),
    "kubeadm.k8s.io/v1beta4": (31, 999),
}


@dataclass(frozen=True, order=True)
class KubeVersion:
    major: int
    minor: int
    patch: int

    @classmethod
    def parse(cls, text: str) -> KubeVersion:
        match = _VERSION.match(text.strip())
        if match is None:
            raise InputError(f"not a Kubernetes version: {text!r} (expected v1.30.2)")
        return cls(int(match.group(1)), int(match.group(2)), int(match.group(3)))

    def __str__(self) -> str:
        return f"v{self.major}.{self.minor}.{self.patch}"

    @property
    def kubeadm_api(self) -> str:
        """The kubeadm config API this version's kubeadm writes (v1beta4 from 1.31, v1beta3 from 1.22)."""
        if self.major != 1 or self.minor < API_BY_MINOR[0][0]:
            raise InputError(f"Kubernetes {self} is not supported (1.{API_BY_MINOR[0][0]} or newer)")
        return [api for first, api in API_BY_MINOR if self.minor >= first][-1]

    def reads(self, api_version: str) -> bool:
        """Whether this version's kubeadm accepts documents of *api_version*."""
        first, last = API_RANGE.get(api_version, (1, 0))
        return self.major == 1 and first <= self.minor <= last

    def upgrade_step(self, target: KubeVersion) -> str | None:
        """Why kubeadm cannot upgrade from this version to *target*, or None when it can (same minor
        or the next one; never down)."""
        if target < self:
            return f"{target} is older than {self}: kubeadm does not downgrade"
        if target.major != self.major or target.minor > self.minor + 1:
            return (f"{self} -> {target} skips a minor version; kubeadm upgrades one minor at a time "
                    f"(go through v{self.major}.{self.minor + 1}.x first)")
        return None
