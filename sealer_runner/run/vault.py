"""Secrets the hosts need, carried through the extra-vars file without ever being on disk in clear text.

Each run makes a random vault password, held in memory only, and encrypts the secret with Ansible's own
vault (AES256, format 1.1). The extra-vars file holds the ciphertext as a ``!vault`` value; the vault
password reaches ``ansible-playbook`` at its ``--ask-vault-pass`` prompt, answered by ansible-runner
from memory (like the SSH password). Once the run ends, the key is gone and the ciphertext left in
``env/extravars`` cannot be opened.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from ..util.secret import Secret


@dataclass(frozen=True)
class VaultedText:
    """A vault 1.1 ciphertext, written to YAML as a ``!vault`` scalar."""

    ciphertext: str

    def __repr__(self) -> str:
        return "VaultedText(...)"


@dataclass(frozen=True)
class OneTimeVault:
    """A random vault password for one run; it encrypts values for that run's extra-vars."""

    password: Secret

    @classmethod
    def new(cls) -> "OneTimeVault":
        return cls(Secret(secrets.token_urlsafe(32)))

    def encrypt(self, value: Secret) -> VaultedText:
        from ansible.parsing.vault import VaultLib, VaultSecret  # heavy: only runs with secrets need it

        vault = VaultLib([("default", VaultSecret(self.password.reveal().encode()))])
        return VaultedText(vault.encrypt(value.reveal()).decode())

    def decrypt(self, text: VaultedText) -> Secret:
        """The clear text back (tests and checks)."""
        from ansible.parsing.vault import VaultLib, VaultSecret

        vault = VaultLib([("default", VaultSecret(self.password.reveal().encode()))])
        return Secret(vault.decrypt(text.ciphertext).decode())
