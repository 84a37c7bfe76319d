"""extmigrate: find and fix free-threading hazards in CPython C extensions."""

__version__ = "0.1.0"
