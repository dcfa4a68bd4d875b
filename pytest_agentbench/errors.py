"""The one base class of the plugin's own errors.

Every error the plugin raises on purpose (a malformed canary or registry, a tree that cannot be
read, a database that cannot be opened, a server that will not start, …) derives from
:class:`AgentbenchError`, so a caller — a conftest, a script using the package — can tell the
plugin's worded errors from a bug with one ``except``. Errors that are also a ``ValueError``
(a bad value in a file or an option) stay one, so existing ``except ValueError`` code still works.
"""

from __future__ import annotations


class AgentbenchError(Exception):
    """An error the plugin raised on purpose; its message is worded for the user."""
