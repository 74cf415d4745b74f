"""physrnn: recurrent neural networks for physics, checked against exact answers."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("physrnn")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
