"""``zion-plugin-wallet``: keys, backups, the encrypted wallet file and ``zion wallet``."""
