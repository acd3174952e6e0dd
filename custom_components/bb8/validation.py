"""The schema library Home Assistant validates with, whichever release runs.

Home Assistant 2026.10 validates with probatio, an API-compatible successor of voluptuous, and
aliases ``voluptuous`` to it when it starts; earlier releases use voluptuous itself. Importing the
library Home Assistant actually runs (chosen by what is installed, not by version) gives the
schemas the type Home Assistant's own signatures ask for on every supported release.
"""

try:
    import probatio as vol
except ImportError:  # Home Assistant before 2026.10, which validates with voluptuous
    import voluptuous as vol  # type: ignore[no-redef,unused-ignore]

__all__ = ["vol"]
