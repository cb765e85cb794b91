"""``python -m portkey_vk``: the ``portkey-vk`` command line."""

import sys

from portkey_vk.cli import main

if __name__ == "__main__":
    sys.exit(main())
