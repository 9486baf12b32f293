"""Chain data: codecs, hashes, blocks, transactions and addresses (the kernel's formats).

Consensus rules live in the ``consensus`` plugin; this package only says what the bytes
mean, so every plugin (node API, pool, wallet, P2P) reads and writes them the same way.
"""
