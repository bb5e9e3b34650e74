"""`python -m alert_courier_local` runs the local stack."""

import sys

from .stack import main

sys.exit(main())
