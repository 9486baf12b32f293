"""The ``[wallet]`` configuration section: the wallet a node serves over its RPC."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import attrs

from zion_core import ConfigError

SECTION: Final = "wallet"
DEFAULT_PASSWORD_ENV: Final = "ZION_WALLET_PASSWORD"
_ENV_NAME: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _env_name(_instance: Any, attribute: attrs.Attribute[str], value: str) -> None:
    if not _ENV_NAME.match(value):
        raise ValueError(f"{attribute.name} must be an environment variable name, not {value!r}")


@attrs.frozen
class WalletConfig:
    """``[wallet]``: the wallet RPC (``get_balance``, ``transfer``...), off by default.

    - ``file``: the wallet file to serve; unset (the default), the node serves no wallet
      and registers no wallet method.
    - ``password_file``: a file whose first line is the wallet's password.
    - ``password_env``: else, the environment variable holding the password
      (``ZION_WALLET_PASSWORD``, as for ``zion wallet``).

    The password is never a configuration value itself (``zion config show`` prints those).
    """

    file: Path | None = None
    password_file: Path | None = None
    password_env: str = attrs.field(default=DEFAULT_PASSWORD_ENV, validator=_env_name)

    def password(self, environ: Mapping[str, str] | None = None) -> str:
        """The wallet's password from ``password_file``, else ``$password_env``."""
        if self.password_file is not None:
            try:
                lines = self.password_file.read_text(encoding="utf-8").splitlines()
            except OSError as exc:
                raise ConfigError(
                    f"[wallet] password_file {self.password_file} cannot be read: {exc.strerror}"
                ) from None
            if not lines or not lines[0]:
                raise ConfigError(f"[wallet] password_file {self.password_file} is empty")
            return lines[0]
        password = (os.environ if environ is None else environ).get(self.password_env, "")
        if not password:
            raise ConfigError(
                f"[wallet] file is set but there is no password: set [wallet] password_file "
                f"or the environment variable {self.password_env}"
            )
        return password


__all__ = ["DEFAULT_PASSWORD_ENV", "SECTION", "WalletConfig"]
