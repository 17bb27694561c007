"""The watch layer (see docs/architecture.md)."""
