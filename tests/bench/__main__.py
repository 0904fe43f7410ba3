"""`make bench`: python -m tests.bench (see bench.py)."""
import sys

from tests.bench.bench import main

sys.exit(main())
