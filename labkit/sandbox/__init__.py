"""Live sandboxes: lab apps served on loopback, their database and traffic."""

from labkit.sandbox.server import Sandbox, SandboxError

__all__ = ["Sandbox", "SandboxError"]
