"""``python -m gputrack.cli`` runs the ``gputrack`` command."""

import sys

from . import main

sys.exit(main())
