"""Exceptions raised by physrnn. Each names the culprit (key, file, step) in its message."""

from __future__ import annotations

__all__ = [
    "PhysrnnError",
    "ConfigError",
    "SystemDefinitionError",
    "RecordError",
    "NonFiniteError",
    "OutputExistsError",
    "OutputWriteError",
    "RunLockedError",
    "UnsafeFileError",
    "SignProblemError",
    "QMCError",
]


class PhysrnnError(Exception):
    """Base class of every error physrnn raises on purpose."""


class ConfigError(PhysrnnError, ValueError):
    """A configuration file or override is invalid (unknown key, wrong type, bad value)."""


class SystemDefinitionError(PhysrnnError, ValueError):
    """A physical system cannot be built (impossible lattice, unsupported Hilbert space)."""


class RecordError(PhysrnnError):
    """A record, checkpoint or dataset file is missing, corrupted, foreign or outdated."""


class NonFiniteError(PhysrnnError, FloatingPointError):
    """A NaN or infinity appeared in an energy, a loss or a gradient."""


class OutputExistsError(PhysrnnError):
    """The output directory already holds results and neither overwrite nor resume was asked."""


class OutputWriteError(PhysrnnError, OSError):
    """An output could not be written (disk or quota full, read-only file system, directory
    vanished). The file under its final name is unchanged (the previous version, or none)."""


class RunLockedError(PhysrnnError):
    """Another live process holds the lock of the output directory or file."""


class UnsafeFileError(RecordError):
    """A file holds pickled Python objects that a safe load refuses (it could run code)."""


class SignProblemError(SystemDefinitionError):
    """Quantum Monte Carlo cannot sample this Hamiltonian without a sign problem (frustrated or
    complex couplings, a non-bipartite antiferromagnet) or on these sites (not spin-1/2)."""


class QMCError(PhysrnnError):
    """The quantum Monte Carlo engine is missing, failed, or wrote results that cannot be read."""
