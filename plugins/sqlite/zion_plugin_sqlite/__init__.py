"""``zion-plugin-sqlite``: the embedded storage backend on SQLite."""
