"""``python -m scangate`` runs the same CLI as the ``scangate`` script."""

import sys

from scangate._cli import main

sys.exit(main())
