"""Model plugins: ``rnn``, ``lstm``, ``gru`` (with a compiled CPU sampler) and ``crnn``."""
