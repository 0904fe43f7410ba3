"""`make demo`: python -m tests.demo (see demo.py)."""
from tests.demo.demo import main

main()
