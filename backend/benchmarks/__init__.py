"""Benchmarks for ``shapeprog bench NAME``: one module each, defining ``BENCHMARK = Command(...)``.

A benchmark prints its figures; its last line is the headline figure.
"""
