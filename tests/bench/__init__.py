"""The benchmark (`make bench`, `python -m tests.bench`: bench.py, its harness, the original tap's
install, the measuring wrapper) and the memory probe (`python -m tests.bench.memory_probe`)."""
