"""llmline: data -> model -> optimize -> registry -> serve -> monitor, governed, in one spec."""

__version__ = "0.1.0"
