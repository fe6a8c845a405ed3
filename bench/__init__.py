"""`make bench`: Strongroom against OpenBao and a hand-written floor, side by side.

See bench/README.md. Run with `python -m bench` from the project root;
BENCH_QUICK=1 for short runs, BENCH_ONLY=read,write to pick scenarios.
"""
