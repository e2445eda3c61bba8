"""Which registry the hosts pull cached images from, and with which credentials.

* ``registry.localRegistry`` (the default): the embedded registry; with ``username``/``password`` it
  requires htpasswd (bcrypt) auth.
* ``registry.externalRegistry``: an existing registry; credentials from the Clusterfile, else those
  kept by ``sealer_runner login`` for its ``domain[:port]``.

Setting both is refused: the hosts can pull from one place only.
"""

from __future__ import annotations

from ..clusterfile.models import ClusterSpec
from ..errors import ClusterfileError
from ..registry.auth import CredentialSource, Credentials
from .htpasswd import MAX_PASSWORD_BYTES


def check_registry(spec: ClusterSpec) -> None:
    """Refuse registry settings a run cannot honour, naming the Clusterfile line."""
    registry = spec.cluster.registry
    local, external = registry.local, registry.external
    if local is not None and external is not None:
        raise ClusterfileError("spec.registry: set localRegistry or externalRegistry, not both (the hosts pull "
                               "from one registry)", file=spec.filename, line=external.line or None)
    for name, reg in (("localRegistry", local), ("externalRegistry", external)):
        if reg is None:
            continue
        where = {"file": spec.filename, "line": reg.line or None}
        if bool(reg.username) != bool(reg.password):
            raise ClusterfileError(f"spec.registry.{name}: username and password go together: give both or "
                                   "neither", **where)
        if reg.username and (":" in reg.username or reg.username != reg.username.strip()):
            raise ClusterfileError(f"spec.registry.{name}.username: must not contain ':' or surrounding spaces",
                                   **where)
        if reg.password and any(c in reg.password.reveal() for c in "\r\n"):
            raise ClusterfileError(f"spec.registry.{name}.password: must be a single line", **where)
    if local is not None and local.password and len(local.password.reveal().encode()) > MAX_PASSWORD_BYTES:
        raise ClusterfileError(f"spec.registry.localRegistry.password: longer than {MAX_PASSWORD_BYTES} bytes, "
                               "which bcrypt (htpasswd) cannot check", file=spec.filename, line=local.line or None)


def registry_credentials(spec: ClusterSpec, kept: CredentialSource | None = None) -> Credentials | None:
    """The credentials the hosts (and, for an external registry, the push) use; None: anonymous."""
    registry = spec.cluster.registry
    reg = registry.external or registry.local
    if reg is None:
        return None
    if reg.username and reg.password:
        return Credentials(reg.username, reg.password)
    if registry.external is not None and kept is not None:
        return kept.get(registry.external.host)
    return None
