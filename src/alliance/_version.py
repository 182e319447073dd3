"""The package version, in a module of its own so that any layer can read it without importing
the notebook API in ``alliance/__init__.py`` (which stands above every other layer)."""

__version__ = "0.1.0"
