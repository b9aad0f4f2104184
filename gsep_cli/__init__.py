"""gsep: a command-line client and library for Gaudio Lab's GSEP stem-separation API.

The library (everything here except ``gsep_cli.cli`` and ``gsep_cli.console``) works
without typer or rich. ``gsep_cli.sandbox`` is a local emulator of the API.
"""

__version__ = "0.1.0"
