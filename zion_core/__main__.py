"""``python -m zion_core``: the ``zion`` command line."""

from .cli import entry

if __name__ == "__main__":
    entry()
