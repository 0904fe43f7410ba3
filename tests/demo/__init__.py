"""`make demo` (`python -m tests.demo`): demo.py."""
