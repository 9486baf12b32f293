"""An unlocked wallet: the keys and the network, with the operations built on them.

:class:`Wallet` ties the pieces together (keys from :mod:`zion_core.chain.keys`, the
recovery phrase from :mod:`.backup`, the encrypted file from :mod:`.walletfile`, transfers
from :mod:`.transfer`); the command line and, later, the wallet RPC use it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import attrs

from zion_core.chain.address import Address
from zion_core.chain.ed25519 import Ed25519Backend
from zion_core.chain.keys import WalletKeys
from zion_core.chain.transaction import Transaction
from zion_core.config import Network

from .backup import mnemonic_to_seed, seed_to_mnemonic
from .transfer import SpendableCoin, build_transfer
from .walletfile import ScryptParams, WalletFile, load_wallet_file, save_wallet_file


@attrs.frozen(repr=False)
class Wallet:
    """A wallet's keys on one network. The repr shows the address, never the seed."""

    keys: WalletKeys
    network: Network

    @classmethod
    def generate(cls, network: Network) -> Wallet:
        """A new wallet with a random master seed (:meth:`WalletKeys.generate`)."""
        return cls(WalletKeys.generate(), network)

    @classmethod
    def from_mnemonic(cls, phrase: str, network: Network) -> Wallet:
        """The wallet the 24-word recovery ``phrase`` backs up (see :mod:`.backup`)."""
        return cls(WalletKeys.from_seed(mnemonic_to_seed(phrase)), network)

    @classmethod
    def open(cls, path: Path, password: str) -> Wallet:
        """Read and decrypt the wallet file at ``path``."""
        sealed = load_wallet_file(path)
        return cls(sealed.open(password), sealed.network)

    @property
    def address(self) -> Address:
        """The wallet's address on its network."""
        return self.keys.address(self.network)

    def mnemonic(self) -> str:
        """The 24-word recovery phrase of the master seed (a secret: show it with care)."""
        return seed_to_mnemonic(self.keys.seed)

    def seal(self, password: str, *, kdf: ScryptParams | None = None) -> WalletFile:
        """The encrypted file content (:meth:`WalletFile.seal`)."""
        return WalletFile.seal(self.keys, self.network, password, kdf=kdf)

    def save(
        self,
        path: Path,
        password: str,
        *,
        overwrite: bool = False,
        kdf: ScryptParams | None = None,
    ) -> WalletFile:
        """Encrypt and write the wallet to ``path`` atomically (mode 0600)."""
        sealed = self.seal(password, kdf=kdf)
        save_wallet_file(path, sealed, overwrite=overwrite)
        return sealed

    def build_transfer(
        self,
        coins: Sequence[SpendableCoin],
        destination: Address | str,
        amount: int,
        fee: int,
        *,
        backend: Ed25519Backend | None = None,
    ) -> Transaction:
        """A signed transaction paying ``amount`` to ``destination`` (:func:`.build_transfer`)."""
        return build_transfer(
            self.keys, self.network, coins, destination, amount, fee, backend=backend
        )

    def __repr__(self) -> str:
        return f"Wallet(network={self.network!r}, address={self.address}, seed=<secret>)"


__all__ = ["Wallet"]
