"""The package version, single-sourced here for the build backend and the User-Agent."""

__version__ = "0.3.0"
