"""Entry point: ``python -m benchmarks [--quick] [--only core] [--repeat N]``."""

import sys

from benchmarks.run import main

sys.exit(main())
