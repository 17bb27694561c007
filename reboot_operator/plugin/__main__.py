"""``python -m reboot_operator.plugin``: the same as the ``kubectl-rollboot`` command."""

import sys

from reboot_operator.plugin.cli import main

sys.exit(main())
