"""State shared by every CLI command: the store root, verbosity and the console."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console

if TYPE_CHECKING:  # imported when first used: `version`, `images`, `--help` must start at once
    from ..image.store import Store
    from ..registry.auth import AuthStore
    from ..registry.transfer import Registries

ENV_ROOT = "SEALER_RUNNER_ROOT"


def default_root() -> Path:
    """``$SEALER_RUNNER_ROOT``, else /var/lib/sealer_runner for root, else ~/.local/share/sealer_runner."""
    if env := os.environ.get(ENV_ROOT):
        return Path(env)
    if os.geteuid() == 0:
        return Path("/var/lib/sealer_runner")
    return Path.home() / ".local" / "share" / "sealer_runner"


@dataclass
class AppContext:
    root: Path
    quiet: bool = False
    debug: bool = False
    registry_options: dict = field(default_factory=dict)
    # Not a terminal (a pipe, a file): wide enough that tables are never cut.
    out: Console = field(default_factory=lambda: Console(highlight=False, soft_wrap=True,
                                                         width=None if sys.stdout.isatty() else 240))
    err: Console = field(default_factory=lambda: Console(stderr=True, highlight=False, soft_wrap=True))

    @cached_property
    def store(self) -> Store:
        from ..image.store import Store

        return Store(self.root)

    @cached_property
    def auth(self) -> AuthStore:
        from ..registry.auth import AuthStore

        return AuthStore(self.root / "auth.json")

    @cached_property
    def registries(self) -> Registries:
        from ..registry.config import RegistryConfig
        from ..registry.transfer import Registries

        config = RegistryConfig.load(self.root / "registries.yaml", **self.registry_options)
        return Registries(config, self.auth)

    def warn(self, message: str) -> None:
        """A warning on stderr, shown even with --quiet."""
        self.err.print(f"warning: {message}", markup=False)

    def info(self, message: str) -> None:
        """Progress and notes go to stderr, so stdout stays clean for scripts."""
        if not self.quiet:
            self.err.print(message)
