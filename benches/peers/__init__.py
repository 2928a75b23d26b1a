"""Side-by-side timings of treelens against its peers, one module per capability.

Each module exposes ``run(quick: bool) -> list[dict]``; benches/compare.py runs them all.
"""
