"""The error every layer raises for bad input: one line, exit status 2 on the command line.

A leaf module (it imports nothing of the package), so that the modules ``config`` calls
on (``derived``, ``style``) can raise it without importing ``config`` back.
"""

from __future__ import annotations


class ConfigError(ValueError):
    """A config (or command-line argument) is invalid; the message is one line."""
