"""`python -m kit RECIPE …` is the same as `python -m kit.run RECIPE …`."""

import sys

from kit.run import main

sys.exit(main())
