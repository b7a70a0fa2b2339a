"""A real systemd booted as PID 1 in private namespaces, to test syscontainers against."""

from .host import Bind, CommandFailed, TestHost, TestHostError

__all__ = ["Bind", "CommandFailed", "TestHost", "TestHostError"]
