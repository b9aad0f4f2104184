"""A faithful local emulator of the GSEP API (``gsep sandbox serve``, ``--sandbox``).

It does not separate sources: see :class:`Sandbox`.
"""

from .api import BASE_PATH
from .faults import Fault, FaultSyntaxError, parse_fault, parse_fault_list
from .server import Sandbox

__all__ = ["BASE_PATH", "Fault", "FaultSyntaxError", "Sandbox", "parse_fault", "parse_fault_list"]
