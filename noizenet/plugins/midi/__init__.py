"""Polyphonic symbolic plugins: ``pianoroll`` and ``midi`` representations of ``"notes"`` pieces on a shared base, note conversions, piano-roll plots and polyphonic metrics."""
