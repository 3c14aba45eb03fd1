"""``python -m pelican_reciprocity``: the same as the ``pelican-reciprocity`` command."""

import sys

from .cli import main

sys.exit(main())
