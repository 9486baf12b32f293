"""The RandomX key (seed) schedule.

A block's proof of work is RandomX keyed with the hash of an earlier block, the *seed block*.
The key changes once per ``epoch`` blocks, ``lag`` blocks after the epoch boundary, so miners
and verifiers have ``lag`` blocks to build the new cache or dataset before it is needed::

    seed_height(h) = 0                                 if h <= epoch + lag
                   = (h - lag - 1) & ~(epoch - 1)      otherwise

``epoch`` is a power of two, so ``& ~(epoch - 1)`` rounds down to a multiple of ``epoch``. With
mainnet's epoch 2048 and lag 64: heights 0 to 2112 use the genesis hash, heights 2113 to 4160
the hash of block 2048, heights 4161 to 6208 that of block 4096, and so on.

During the ``lag`` blocks before a switch the next key is already determined:
:func:`next_seed_height` gives the height of the block whose hash becomes the next key, and the
node publishes that hash (``next_seed_hash``) to miners. Outside that window it returns None.
"""

from __future__ import annotations

__all__ = ["next_seed_height", "seed_height"]


def _check(height: int, epoch: int, lag: int) -> None:
    if height < 0:
        raise ValueError(f"height must not be negative, got {height}")
    if epoch < 1 or epoch & (epoch - 1):
        raise ValueError(f"epoch must be a power of two, got {epoch}")
    if lag < 0:
        raise ValueError(f"lag must not be negative, got {lag}")


def seed_height(height: int, epoch: int, lag: int) -> int:
    """The height of the block whose hash keys RandomX for the block at ``height``.

    Always a multiple of ``epoch`` and at least ``lag + 1`` blocks below ``height`` (or 0).
    Raises :class:`ValueError` for a negative height or lag, or an epoch that is not a power of
    two.
    """
    _check(height, epoch, lag)
    if height <= epoch + lag:
        return 0
    return (height - lag - 1) & ~(epoch - 1)


def next_seed_height(height: int, epoch: int, lag: int) -> int | None:
    """The height whose hash becomes the key within the next ``lag`` blocks, or None.

    It is ``seed_height(height + lag)`` when that differs from ``seed_height(height)``, which
    happens exactly for the ``lag`` heights before a switch. That block is always below
    ``height``, so its hash is known when the template for ``height`` is built.
    """
    current = seed_height(height, epoch, lag)
    upcoming = seed_height(height + lag, epoch, lag)
    return upcoming if upcoming != current else None
