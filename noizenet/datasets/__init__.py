"""Built-in dataset plugins (installed as ``noizenet.datasets``), registered by entry points."""
