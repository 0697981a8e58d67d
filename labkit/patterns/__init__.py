"""Secure reference implementations, one module per pattern."""
