"""The ``mlmon`` command line: thin commands over the library, one module per command.

``app`` is the command group (:mod:`mlmon.cli.app`); each command module registers its
command on it when imported, which happens only when the command is run or listed
(``COMMANDS`` in :mod:`mlmon.cli.app` names the modules); :mod:`mlmon.cli.common` holds
what they share (the error boundary, the shared options, writing outputs); ``main`` is
the console script.
"""

from mlmon.cli.app import app
from mlmon.cli.entry import main

__all__ = ["app", "main"]
