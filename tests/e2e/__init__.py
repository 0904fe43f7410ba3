"""End-to-end tests with the real Singer ecosystem: singer-check-tap, target-jsonl, two Postgres
targets into a real PostgreSQL server, Meltano, and the oldest and newest supported Pythons.

Every tool is installed from the package registry into its own virtual environment under
`.venvs/` (see tools.py): their dependency pins conflict with singer-python's and with each other.
"""
