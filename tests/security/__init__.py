"""Attacks on the request path: each test asserts one security guarantee."""
