"""The installed version of losstopo (declared in ``pyproject.toml``), a leaf module that
any part of the package can import without importing the package's public API."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("losstopo")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+unknown"
