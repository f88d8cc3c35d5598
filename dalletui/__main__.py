"""``python -m dalletui``."""

import sys

from dalletui.cli import main

sys.exit(main())
