"""Is a layer a readable tar? Checked while its bytes stream past, before the store takes it."""

from __future__ import annotations

import tarfile
import zlib
from typing import Any

from .layer import UnsafeLayer, check_member, open_layer_tar
from .types import MT_OCI_LAYER_TAR


class WriteFailed(Exception):
    """Raised by a tee'ing reader when writing (not reading) failed: not the layer's fault."""

    def __init__(self, cause: OSError) -> None:
        super().__init__(str(cause))
        self.cause = cause


def tar_problem(reader: Any, gzip: bool) -> str | None:
    """None if *reader* holds a well-formed layer tar (gzip'd if *gzip*), else why not: unreadable, or
    refused by the layer rules every host applies (bounded headers, names inside the root, no device
    nodes, hardlinks to paths inside the root), so a hostile layer is refused when it arrives, not when a
    build or a host meets it. Reads only the tar's bytes (member data is read and dropped, never kept):
    callers drain what follows."""
    try:
        with open_layer_tar(reader, "r|gz" if gzip else "r|") as layer:
            for member in layer:
                check_member(member)
    except WriteFailed as exc:
        raise exc.cause from None
    except UnsafeLayer as exc:
        return f"refused by the layer rules: {exc}"
    except (tarfile.TarError, zlib.error, EOFError, OSError) as exc:
        return f"not a readable {'gzip' + chr(39) + 'd ' if gzip else ''}tar: {exc or type(exc).__name__}"
    return None


def layer_file_problem(path: str, media_type: str) -> str | None:
    """:func:`tar_problem` for a layer already on disk, against its media type (gzip or not)."""
    with open(path, "rb") as f:
        gzip = f.read(2) == b"\x1f\x8b"
        f.seek(0)
        if gzip != (media_type != MT_OCI_LAYER_TAR):
            return f"{'gzip' if gzip else 'not gzip'}, but its media type is {media_type}"
        return tar_problem(f, gzip)
