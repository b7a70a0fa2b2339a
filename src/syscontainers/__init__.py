"""syscontainers: run OCI images as host system services (OSTree + runc + systemd)."""

__version__ = "0.1.0"
