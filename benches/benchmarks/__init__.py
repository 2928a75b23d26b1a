"""asv benchmarks for treelens (run from benches/: ``asv run``)."""
