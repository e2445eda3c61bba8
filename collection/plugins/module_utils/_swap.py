# -*- coding: utf-8 -*-
# Copyright: sealer_runner developers. Apache-2.0.
"""Private to the sealer.cluster collection: swap areas in use, and swap lines of fstab.

Standard library only.
"""

from __future__ import annotations

import re

#: An fstab line that is not a comment and whose third field (the type) is ``swap``.
_SWAP_LINE = re.compile(r"^\s*[^#\s]\S*\s+\S+\s+swap(\s|$)")
MARK = "  # swap turned off by sealer_runner"


def active(proc_swaps_text):
    """The swap areas listed in ``/proc/swaps`` (its first line is a header)."""
    return [line.split()[0] for line in proc_swaps_text.splitlines()[1:] if line.split()]


def comment_out(fstab_text):
    """*fstab_text* with every swap line commented out; returns (new text, the lines commented)."""
    out, commented = [], []
    for line in fstab_text.splitlines(True):
        body = line.rstrip("\n")
        if _SWAP_LINE.match(body):
            commented.append(body)
            line = "# " + body + MARK + ("\n" if line.endswith("\n") else "")
        out.append(line)
    return "".join(out), commented
