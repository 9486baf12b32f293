"""``zion-plugin-consensus``: ZION's chain rules."""
