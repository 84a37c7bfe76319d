"""Runtime gates: what a maintainer checks before trusting a free-threaded build."""
