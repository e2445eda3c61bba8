"""The one error tree of sealer_runner.

Library code raises these with context; only the CLI (and Ansible module
``main()`` functions) turn them into output and exit codes:

* :class:`InputError` and its children mean the user gave bad input (exit 2).
* Every other :class:`SealerError` means an operation failed (exit 1).
"""

from __future__ import annotations


class SealerError(Exception):
    """Base of every error sealer_runner raises on purpose."""

    exit_code = 1


class Interrupted(SealerError):
    """The operator interrupted the operation (Ctrl-C): it stopped cleanly."""

    exit_code = 130


class InputError(SealerError):
    """The user's input (flags, files, references) is invalid."""

    exit_code = 2


class SourceError(InputError):
    """An error located in a user file: ``FILE:LINE: message``."""

    def __init__(self, message: str, *, file: str, line: int | None = None) -> None:
        self.file = file
        self.line = line
        self.message = message
        where = f"{file}:{line}" if line is not None else file
        super().__init__(f"{where}: {message}")


class KubefileError(SourceError):
    """A Kubefile cannot be parsed or is misused."""


class ClusterfileError(SourceError):
    """A Clusterfile cannot be decoded or does not validate."""


class InvalidReference(InputError):
    """An image reference is malformed."""


class ImageNotFound(SealerError):
    """An image is not in the local store."""


class StoreError(SealerError):
    """The local image store is damaged or cannot be written."""


class DigestMismatch(StoreError):
    """Content does not match the digest it was addressed by."""

    def __init__(self, what: str, expected: str, actual: str) -> None:
        self.expected = expected
        self.actual = actual
        super().__init__(f"{what}: digest mismatch: expected {expected}, got {actual}")


class InvalidImage(InputError):
    """An image's manifest, index, config or layer is malformed, over its size cap, or does not match
    the descriptor that points at it. The message names where it came from (archive member, reference)."""


class UnsafeLayerError(StoreError, InvalidImage):
    """A layer breaks the layer rules (a name leaving the root, a write beneath a symlink, a hardlink out,
    a device node, an oversized header): refused whole. An input error (exit 2): the image is at fault."""


class ArchiveError(InvalidImage):
    """An image archive is malformed or has been tampered with."""


class BuildError(SealerError):
    """A build step failed (RUN exited non-zero, a file could not be read...)."""


class ImageContentError(BuildError, InputError):
    """What a build put in the image cannot work on the image's own Kubernetes version: objects of APIs
    that version does not serve or that its schemas refuse, or a malformed version label. The image's
    inputs are at fault, so exit 2 like any bad input; the message names each file, line and object."""


class RegistryError(SealerError):
    """A registry answered with an error, or could not be reached.

    ``code`` is the registry's error code (``MANIFEST_UNKNOWN``, ``DENIED``...) when it gave one;
    ``retryable`` says whether trying again can help (5xx, connection errors).
    """

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None,
                 retryable: bool = False) -> None:
        self.status = status
        self.code = code
        self.retryable = retryable
        super().__init__(message)


class AuthenticationError(RegistryError):
    """The registry refused our credentials (or needs some and we have none)."""


class RegistryAnswerError(RegistryError, InvalidImage):
    """A registry's answer is malformed, over its size cap or does not match what was asked for, or it
    asks for credentials to be sent where they must not go. Never retried; exit code 2 like any bad input."""
