"""Built-in plugins (installed as ``noizenet.plugins``), registered by entry points."""
