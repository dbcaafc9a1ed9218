"""``python -m gputrack`` runs the ``gputrack`` command."""

import sys

from .cli import main

sys.exit(main())
