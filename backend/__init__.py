"""ShapeProg backend: rendering, losses, scans, search, fitting, CLI and server."""

__all__: list[str] = []
