"""Errors a user can cause. Only `cli/` turns them into messages and exit codes."""


class VQCodecError(Exception):
    """Base class: anything wrong with the user's input, files or models. Exit status 2 unless
    a subclass says otherwise."""

    exit_code = 2


class UsageError(VQCodecError):
    """Arguments that cannot be right (bad raw parameters, unknown scheme...)."""

    exit_code = 1


class BadInputError(VQCodecError):
    """Input media that cannot be read: not an image/audio, truncated, empty."""


class BadStreamError(VQCodecError):
    """A compressed stream that is malformed, truncated or corrupt."""


class TruncatedStreamError(BadStreamError):
    """A stream that breaks off: the bytes end before its last record."""


class LimitError(VQCodecError):
    """Input that exceeds a configured limit (pixels, samples, chunks, bytes)."""


class ModelError(VQCodecError):
    """A model file that is missing, tampered with, or does not fit the stream."""

    exit_code = 3


class OutputError(VQCodecError):
    """An output that cannot or must not be written (exists without --force, unwritable)."""

    exit_code = 4
