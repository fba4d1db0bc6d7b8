"""One error taxonomy: everything that goes wrong that the user can fix, by kind.

    UserError                        the message says what is wrong and what to do
    ├── MissingError                 not there (yet): a variant, checkpoint, job, report, probe
    │   ├── NotTrainedError          a variant with no history or no checkpoints yet
    │   ├── NotAnalyzedError         an analyzer's artifact is not computed (`.analyzer` names it)
    │   ├── NoHistoryError           an imported checkpoint whose file held no training history
    │   └── NoModelError             an imported training log: curves only, nothing to analyze
    ├── BadInputError (ValueError)   a name, value, option, family file or imported file is invalid
    ├── BusyError                    a variant or job is being written by another process right now
    ├── ConflictError                the request contradicts what is there (already trained, exists)
    └── DataError                    data on disk is damaged, or the disk refuses a write

Modules raise these (or their own subclasses: `FamilyError`, `ProbeError`, ...); each front end
turns them into its own words by type: the CLI prints one line and exits non-zero
(`workbench.cli.main`), the app shows an alert or a message figure (`workbench.app.callback_error`,
`workbench.figures.missing_message`), and the Python API raises them with the `wb.` call that fixes
them (`workbench.api`). Any other exception is a bug: logged or shown with its traceback.
"""
from __future__ import annotations


class UserError(Exception):
    """Something the user can fix; `str(err)` says what is wrong and what to do."""


class MissingError(UserError):
    """Something asked for is not there (yet)."""


class NotTrainedError(MissingError):
    """A variant has no training history or no checkpoints yet."""

    def __init__(self, message: str, *, ref=None):
        super().__init__(message)
        self.ref = ref


class NotAnalyzedError(MissingError):
    """An analyzer's artifact for a variant is not computed yet."""

    def __init__(self, message: str, *, ref=None, analyzer: str | None = None):
        super().__init__(message)
        self.ref, self.analyzer = ref, analyzer


class NoHistoryError(MissingError):
    """An imported checkpoint whose file held no training history: no curves, phases or alerts."""


class NoModelError(MissingError):
    """An imported training log: it has curves but no model, so no analysis of weights."""


class BadInputError(UserError, ValueError):
    """A name, value, option or file the user gave is invalid; the message names it and the fix."""


class BusyError(UserError):
    """A variant or job is held by another process; wait for it or stop it."""


class ConflictError(UserError):
    """The request contradicts what is already there (e.g. training a variant that is trained)."""


class DataError(UserError):
    """Data on disk is damaged (truncated, checksum mismatch) or the disk refuses a write."""

