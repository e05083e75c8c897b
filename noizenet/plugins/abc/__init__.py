"""ABC plugins: the ``abc`` representation, its text helpers and transposition, and its metrics."""
