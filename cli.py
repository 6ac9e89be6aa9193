"""The ``tracker`` command line, for running from a checkout: ``python cli.py --help``.

The command line itself is :mod:`tracker.cli`, inside the package, so that an installed
tracker puts no top-level ``cli`` module into site-packages (a name any other package may
use). This file only runs it.
"""

from tracker.cli import main

if __name__ == "__main__":
    main()
