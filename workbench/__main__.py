"""``python -m workbench``: see ``workbench.cli``."""

import sys

from workbench.cli import main

if __name__ == "__main__":  # Dask's worker processes import this module again
    sys.exit(main())
