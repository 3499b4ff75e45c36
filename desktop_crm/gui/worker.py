"""Run a service call on the thread pool and report back on the GUI thread."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal, Slot

from desktop_crm.errors import CRMError

log = logging.getLogger(__name__)

UNEXPECTED = "Something went wrong; the details are in the application log"

# Tasks keep themselves alive here until their result has been delivered, so
# a caller may drop its reference right after starting one.
_running: set[Task] = set()


def user_message(error: BaseException) -> str:
    """The text to show for a failure: a ``CRMError``'s message, else generic."""
    if isinstance(error, CRMError):
        text = error.message
        return text[:1].upper() + text[1:]
    return UNEXPECTED


def _log_bug(error: Exception) -> None:
    # The exception's message may quote data (a patient value in a database
    # error), so only its type and the code locations are logged.
    frames = "".join(traceback.format_tb(error.__traceback__))
    log.error("background task failed with %s\n%s", type(error).__qualname__, frames)


class _Runnable(QRunnable):
    """Calls the task's function on a pool thread."""

    def __init__(self, task: Task) -> None:
        super().__init__()
        self._task = task

    def run(self) -> None:
        self._task.execute()


class Task(QObject):
    """One call run off the GUI thread.

    Signals:
        succeeded(object): the call returned this value (on the GUI thread).
        failed(object): the call raised this exception (on the GUI thread).
    """

    succeeded = Signal(object)
    failed = Signal(object)
    _finished = Signal(object, object)

    def __init__(self, function: Callable[[], Any]) -> None:
        super().__init__()
        self._function = function
        # The receiver lives on the GUI thread, so this connection is queued
        # when the signal is emitted from the pool thread.
        self._finished.connect(self.on_runnable_finished)

    def start(self) -> Task:
        _running.add(self)
        QThreadPool.globalInstance().start(_Runnable(self))
        return self

    def execute(self) -> None:
        try:
            result = self._function()
        except Exception as exc:
            if not isinstance(exc, CRMError):
                _log_bug(exc)
            self._report(None, exc)
        else:
            self._report(result, None)

    def _report(self, result: object, error: object) -> None:
        try:
            self._finished.emit(result, error)
        except RuntimeError:
            # The application closed while the task ran: nobody is listening.
            log.info("background task finished after its window closed")

    @Slot(object, object)
    def on_runnable_finished(self, result: object, error: object) -> None:
        _running.discard(self)
        if error is None:
            self.succeeded.emit(result)
        else:
            self.failed.emit(error)


def run_task(
    function: Callable[[], Any],
    on_success: Callable[[Any], None],
    on_failure: Callable[[BaseException], None],
) -> Task:
    """Start ``function`` on the pool; the callbacks run on the GUI thread."""
    task = Task(function)
    task.succeeded.connect(on_success)
    task.failed.connect(on_failure)
    return task.start()


def wait_for_tasks(timeout_ms: int = 10_000) -> bool:
    """Block until every pool task has returned (shutdown and tests)."""
    return QThreadPool.globalInstance().waitForDone(timeout_ms)
