"""The pytest side of a run: options, settings, the session, collection, the controller and xdist workers."""
