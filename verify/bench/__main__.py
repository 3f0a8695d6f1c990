"""`python -m verify.bench` (`make bench`): the bench table."""

import sys

from verify.bench.bench import main

sys.exit(main())
