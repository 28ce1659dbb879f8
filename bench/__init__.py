"""Benchmarks: bounded load against a real gunicorn on PostgreSQL (``make bench-api``)."""
