"""`python -m alert_courier_local.bench [--quick] [--only SECTION ...] [--storm-alerts N]`."""

import sys

from .cli import main

sys.exit(main())
