"""rooms_server: self-hosted real-time listening rooms."""

__version__ = "0.1.0"
