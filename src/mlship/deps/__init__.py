"""Dependency checks and locking: import scan, lock for the target platform, policy rules, GPU data."""
