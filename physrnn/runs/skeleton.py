"""The frame every job runs in: output directory, lock, threads, device, checkpoints, outputs.

A job (:func:`physrnn.runs.vmc.run_vmc_job`, :func:`physrnn.runs.train.run_train_job`,
:func:`physrnn.runs.memory.run_memory_job`) does its own science inside a :class:`Run`::

    with Run(config, out, overwrite=overwrite, resume=resume, command=command,
             unit="step") as run:
        state = run.load_checkpoint()           # None unless resuming from a checkpoint
        ...                                     # build, optimise, poll run.preemption_requested()
        run.save_checkpoint("driver", driver.state_dict)
        with run.guard(write, position=lambda: driver.step_count):
            driver.run(...)                     # Ctrl-C / a failure: outputs written, re-raised
        return run.finish(summary, history=history, figures=plot)

Entering prepares ``out`` on rank 0 and takes its lock
(:func:`physrnn.runs.records.prepare_output_dir`; every rank gets the result or the error),
sets ``run.threads`` and resolves ``run.device`` of the config's ``[run]`` section (configs
without one keep torch's defaults); leaving releases the lock, however the job ends. Every exit
of a job writes the same outputs through :meth:`Run.finish` (rank 0 only): ``record.h5`` with
the full resolved config, the provenance and the status, ``summary.json`` and the figures.
The messages of the non-completed statuses are built here, so that every kind says them alike.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import torch

from physrnn.checkpoints import CHECKPOINT_NAME, check_checkpoint_version
from physrnn.config import RESUME_FREE, check_resumable, to_dict, to_toml
from physrnn.distributed import (
    any_rank,
    check_resume_world_size,
    get_world_size,
    is_main,
    resolve_device,
    run_on_main,
)
from physrnn.runs import preempt
from physrnn.runs.records import (
    load_checkpoint,
    prepare_output_dir,
    provenance,
    release_output_dir,
    save_checkpoint,
    write_record,
    write_summary,
)

__all__ = ["Run", "Preempted", "CHECKPOINT_NAME"]


class Preempted(Exception):  # noqa: N818 - a control-flow signal, not an error
    """Raised by a job's step callback to leave its loop after a preemption checkpoint."""


class Run:
    """One run's output directory, lock, threads, device, checkpoint and final outputs.

    Args:
        config: the resolved run config (a frozen dataclass; stored in every record and
            checkpoint).
        out: output directory.
        overwrite: replace results already in ``out``.
        resume: continue from ``out/checkpoint.pt`` when there is one.
        command: recorded in the run record.
        unit: what the job counts, ``"step"`` or ``"epoch"`` (used in the messages).
        failures: exception types that end the run as ``"failed"`` inside :meth:`guard`
            (outputs written, the error re-raised with where the last good checkpoint is).
        toml_in_record: store the config's TOML text in ``record.h5`` as well.
    """

    def __init__(self, config: Any, out: str | Path, *, overwrite: bool = False,
                 resume: bool = False, command: str = "physrnn", unit: str = "step",
                 failures: tuple[type[BaseException], ...] = (),
                 toml_in_record: bool = True) -> None:
        self.config = config
        self.command = command
        self.unit = unit
        self.failures = failures
        self.overwrite = overwrite
        self.resume = resume
        self.toml_in_record = toml_in_record
        self.out = Path(out)
        self.device = torch.device("cpu")
        #: The position (step, epoch) of this process's newest checkpoint; ``None``: none yet.
        #: The job sets it where it saves.
        self.last_checkpoint: int | None = None

    # ------------------------------------------------------------------ enter / leave
    def __enter__(self) -> Run:
        self.out = run_on_main(prepare_output_dir, self.out, overwrite=self.overwrite,
                               resume=self.resume, lock=True)
        try:
            settings = getattr(self.config, "run", None)
            if settings is not None:
                if settings.threads:
                    torch.set_num_threads(settings.threads)
                self.device = resolve_device(settings.device)
        except BaseException:
            release_output_dir(self.out)
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        release_output_dir(self.out)

    @property
    def is_main(self) -> bool:
        """This process writes the outputs (rank 0, or the only process)."""
        return is_main()

    # ------------------------------------------------------------------ checkpoints
    @property
    def checkpoint_path(self) -> Path:
        """``out/checkpoint.pt``."""
        return self.out / CHECKPOINT_NAME

    @property
    def resuming(self) -> bool:
        """``resume`` was asked for and there is a checkpoint to resume from."""
        return self.resume and self.checkpoint_path.exists()

    def load_checkpoint(self, *, free: frozenset[tuple[str, str]] = RESUME_FREE,
                        exact_for: int | None = None) -> dict[str, Any] | None:
        """The checkpoint to resume from, checked, or ``None`` when not :attr:`resuming`.

        Args:
            free: ``(section, key)`` settings that may differ from the checkpoint's config.
            exact_for: see :func:`physrnn.distributed.check_resume_world_size`.

        Raises:
            ConfigError: the checkpoint's format version, number of processes or config
                does not allow resuming (the message names what differs).
        """
        if not self.resuming:
            return None
        path = self.checkpoint_path
        state = load_checkpoint(path)
        check_checkpoint_version(state, path)
        check_resume_world_size(state, path, exact_for=exact_for)
        check_resumable(state.get("config", {}), self.config, path, free)
        return state

    def save_checkpoint(self, key: str, state: Callable[[], Any], *,
                        extra: Mapping[str, Any] | None = None) -> None:
        """On rank 0, write ``{"config", key: state(), "world_size", **extra}`` atomically.

        ``state`` is called on rank 0 only; ``extra`` (computed by every rank, e.g. a gather
        of every rank's random streams) is stored beside it.
        """
        if is_main():
            save_checkpoint(self.checkpoint_path, {"config": to_dict(self.config), key: state(),
                                                   "world_size": get_world_size(),
                                                   **(extra or {})})

    # ------------------------------------------------------------------ stopping
    @staticmethod
    def preemption_requested() -> bool:
        """A preemption signal reached any rank (a collective: every rank must call it)."""
        return any_rank(preempt.requested())

    def preempted_message(self, done: int, total: int) -> str:
        """The record's message of a preempted run (after ``done`` of ``total``)."""
        return (f"preempted by {preempt.signal_name() or 'a signal'} after {self.unit} {done} "
                f"of {total}; continue with --resume")

    def interrupted_message(self, done: int) -> str:
        """The record's message of a run that Ctrl-C stopped after ``done`` of its units.

        No checkpoint is written then: Ctrl-C may come in the middle of a step (random streams
        advanced, parameters half-updated), and only step boundaries resume exactly.
        """
        last = self.last_checkpoint
        kept = ("no checkpoint was written yet" if last is None else
                f"the checkpoint of {self.unit} {last} is kept (continue with --resume)")
        return f"interrupted by the user during {self.unit} {done + 1}; {kept}"

    @contextlib.contextmanager
    def guard(self, write: Callable[[str, str], Any], *,
              position: Callable[[], int]) -> Iterator[None]:
        """Write the outputs of a run that Ctrl-C or a failure ends, then re-raise.

        Args:
            write: ``write(status, message)`` writes the outputs with that status
                (``"interrupted"`` or ``"failed"``).
            position: the units done so far (for the message).

        Raises:
            KeyboardInterrupt: re-raised after the outputs are written.
            Exception: one of :attr:`failures`, re-raised as the same type with the place of
                the last good checkpoint added.
        """
        try:
            yield
        except KeyboardInterrupt:
            write("interrupted", self.interrupted_message(position()))
            raise
        except self.failures as exc:
            write("failed", str(exc))
            raise type(exc)(f"{exc}; last good checkpoint kept at "
                            f"{self.checkpoint_path}") from None

    # ------------------------------------------------------------------ outputs
    @staticmethod
    def provenance() -> dict[str, str]:
        """Package version, git revision, host and versions (:func:`physrnn.io.provenance`)."""
        return provenance()

    def write_record(self, *, history: Mapping[str, Any], results: Mapping[str, Any],
                     status: str = "completed", message: str = "") -> None:
        """``out/record.h5``: the full config, provenance, history and results (rank 0)."""
        if not is_main():
            return
        write_record(self.out / "record.h5", config=to_dict(self.config),
                     config_toml=to_toml(self.config) if self.toml_in_record else "",
                     history=dict(history), results=dict(results), command=self.command,
                     status=status, message=message)

    def write_summary(self, summary: Mapping[str, Any]) -> None:
        """``out/summary.json`` (rank 0)."""
        if is_main():
            write_summary(self.out / "summary.json", dict(summary))

    def finish(self, summary: dict[str, Any], *, history: Mapping[str, Any],
               results: Mapping[str, Any] | None = None, message: str = "",
               figures: Callable[[Path], Any] | None = None) -> dict[str, Any]:
        """Write the record, the summary and the figures (rank 0); return ``summary``.

        Args:
            summary: the flat summary; its ``"status"`` is the record's status.
            history: per-step (or per-epoch) arrays of equal length.
            results: the record's results (default: ``summary``).
            message: a sentence explaining a non-completed status.
            figures: ``figures(out)`` writes the PNG figures.
        """
        if is_main():
            self.write_record(history=history, results=summary if results is None else results,
                              status=summary.get("status", "completed"), message=message)
            self.write_summary(summary)
            if figures is not None:
                figures(self.out)
        return summary
