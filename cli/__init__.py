"""The `pathfinder` command line."""
