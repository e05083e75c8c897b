"""Corpora: splits, the prepared (memory-mapped) corpus and its cache, conditions, the worker pool."""
