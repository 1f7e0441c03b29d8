"""The one exception type users see.

Anything a user can fix (a missing file, a bad value in an area file, a
checkpoint of another model) is raised as :class:`SlidemapError` with a message
that says what is wrong, which file, and what to do. The command line turns it
into ``slidemap: error: <message>`` on stderr and exit code 2, without a
traceback unless ``--debug`` is given.
"""

from __future__ import annotations


class SlidemapError(Exception):
    """A user-facing error: the message is printed as is, exit code 2."""
