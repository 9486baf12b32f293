"""``zion-plugin-jsonrpc``: the node API over HTTP (Monero-compatible JSON-RPC and REST)."""
