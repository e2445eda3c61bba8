"""Compare `run --dry-run`'s rendering with the files a real run left on booted hosts (e2e tests)."""

from __future__ import annotations

from pathlib import Path

#: Rendered with placeholders for what only the run knows (kubeadm init's secrets, the registry's private
#: key): compared by their non-placeholder parts elsewhere, not byte for byte.
PLACEHOLDERS = {"etc/kubernetes/kubeadm.yaml", "etc/sealer/registry/registry.key"}
#: Files the host shares with others: the rendering holds only our lines, each must be in the host's file.
SHARED = {"etc/hosts"}


def mismatches(rendered_host: Path, host_root: Path) -> list[str]:
    """Every rendered file of one host that differs from the host's (content or mode); [] when all match.
    Returns also an error when nothing was rendered (a comparison of nothing proves nothing)."""
    files = sorted(p for p in rendered_host.rglob("*") if p.is_file())
    if not files:
        return [f"{rendered_host}: nothing rendered"]
    problems = []
    for path in files:
        rel = str(path.relative_to(rendered_host))
        if rel in PLACEHOLDERS:
            continue
        real = host_root / rel
        if not real.is_file():
            problems.append(f"/{rel}: rendered, but the run did not write it")
            continue
        if rel in SHARED:
            lines = set(real.read_text().splitlines())
            problems += [f"/{rel}: line {line!r} is not on the host" for line in path.read_text().splitlines()
                         if line not in lines]
            continue
        if path.read_bytes() != real.read_bytes():
            problems.append(f"/{rel}: content differs from the host's")
        if path.stat().st_mode & 0o7777 != real.stat().st_mode & 0o7777:
            problems.append(f"/{rel}: mode {path.stat().st_mode & 0o7777:o} rendered, "
                            f"{real.stat().st_mode & 0o7777:o} on the host")
    return problems
