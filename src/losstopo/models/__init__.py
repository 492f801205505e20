"""Network architectures used by the problems."""
