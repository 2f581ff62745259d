"""Benchmarks of rooms_server: load generator, reference server, scenarios (python -m bench)."""
