"""The plugin machinery: interfaces, output kinds, hook specifications, the registry, compatibility."""
