"""Developer tools for tests and benchmarks (not part of any installed distribution)."""
