"""Audio plugins: ``waveform``, ``fft`` and ``chroma`` representations on a shared base, sample plots, measures and metrics."""
