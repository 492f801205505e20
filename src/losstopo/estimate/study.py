"""The planned study as a graph: each job with its ``losstopo`` calls, which job writes a
path, and which problem a checkpoint belongs to.

A job's cost depends on its inputs (a merge tree on the size of its landscape, a Hessian on
the model its checkpoint holds), and before the study runs those inputs exist only as the
arguments of the jobs that will write them, so sizes and problems are looked up there.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from losstopo.estimate.commands import Invocation, invocations
from losstopo.estimate.plan import PlannedJob

# options that name a job's outputs, never a cost
_OUTPUT_OPTIONS = ("out", "markdown")


@dataclass
class StudyJob:
    """A planned job and the ``losstopo`` calls of its shell command."""

    planned: PlannedJob
    calls: list[Invocation]

    @property
    def rule(self) -> str:
        return self.planned.rule


@dataclass(frozen=True)
class ObjectiveRef:
    """Which objective an analysis call differentiates: a PINN or a UNet trained by a job of
    the plan (``producer`` is that training call's cost-relevant arguments), or a
    checkpoint file that exists already (``path``, the first of its ``family``)."""

    kind: str  # "pinn", "unet" or "file"
    producer: tuple[str, ...] = ()
    path: str = field(default="", compare=False)
    family: str = ""
    factory: str | None = None


def _norm(path: str) -> str:
    return os.path.normpath(path)


def out_paths(call: Invocation) -> list[str]:
    """The paths a call writes (its ``--out`` and ``--markdown`` options)."""
    if call.args is None:
        return []
    found = []
    for name in _OUTPUT_OPTIONS:
        value = getattr(call.args, name, None)
        if isinstance(value, str):
            found.append(value)
        elif isinstance(value, list):
            found += [v for v in value if isinstance(v, str)]
    return found


def identity(call: Invocation, drop: tuple[str, ...]) -> tuple[str, ...]:
    """A call's arguments without the options in ``drop`` (and their values): what is left
    decides its cost, so calls that differ only in seeds, paths or coefficients share one
    probe."""
    kept: list[str] = []
    skip = False
    for token in call.argv:
        if skip:
            skip = False
            continue
        name = token.split("=", 1)[0]
        if name in drop:
            skip = "=" not in token
            continue
        kept.append(token)
    return tuple(kept)


# the options of a training call that do not change its model's size or the cost of one of
# its iterations or images
TRAINING_IDENTITY_DROP = (
    "--beta",
    "--lr",
    "--seed",
    "--out",
    "--threads",
    "--device",
    "--data",
    "--iterations",
    "--epochs",
    "--limit-trainval",
    "--limit-test",
)


class Study:
    """The jobs of a plan with lookups between them."""

    def __init__(self, jobs: list[PlannedJob], directory: str | Path = ".") -> None:
        self.directory = Path(directory)
        self.jobs = [StudyJob(job, invocations(job.shell)) for job in jobs]
        self._writer: dict[str, tuple[StudyJob, Invocation | None]] = {}
        for job in self.jobs:
            for path in job.planned.outputs:
                self._writer.setdefault(_norm(path), (job, job.calls[0] if job.calls else None))
            for call in job.calls:
                for path in out_paths(call):
                    self._writer.setdefault(_norm(path), (job, call))

    def writer(self, path: str) -> tuple[StudyJob, Invocation | None] | None:
        """The job (and its call) that writes ``path``, or writes the directory holding it."""
        path = _norm(path)
        probe = path
        while probe not in ("", ".", os.sep):
            if probe in self._writer:
                return self._writer[probe]
            probe = os.path.dirname(probe)
        return None

    def writer_call(self, path: str, command: str) -> Invocation | None:
        """The ``command`` call (e.g. ``landscape``) that writes ``path``, if one does."""
        found = self.writer(path)
        if found is None:
            return None
        job, call = found
        if call is not None and call.command == command:
            return call
        return next((c for c in job.calls if c.command == command), None)

    def upstream(self, job: StudyJob) -> list[StudyJob]:
        """The jobs whose outputs ``job`` reads (in the order of its inputs)."""
        found: dict[int, StudyJob] = {}
        for path in job.planned.inputs:
            writer = self._writer.get(_norm(path))
            if writer is not None and writer[0] is not job:
                found.setdefault(id(writer[0]), writer[0])
        return list(found.values())

    def objective_of(self, job: StudyJob, call: Invocation) -> ObjectiveRef:
        """The objective of an analysis call (hessian, curvature, landscape)."""
        args = call.args
        checkpoint = str(getattr(args, "checkpoint", ""))
        factory = getattr(args, "objective", None)
        if factory is None:
            training = self.writer_call(checkpoint, "train-pinn")
            if training is not None:
                return ObjectiveRef("pinn", identity(training, TRAINING_IDENTITY_DROP))
            training = self.writer_call(checkpoint, "train-unet")
            if training is not None:
                return ObjectiveRef("unet", identity(training, TRAINING_IDENTITY_DROP))
        wildcards = job.planned.wildcards
        if "problem" in wildcards and "run" in wildcards:
            family = f"{wildcards['problem']}/{wildcards['run']}"
        else:
            family = str(Path(checkpoint).parent)
        return ObjectiveRef("file", path=checkpoint, family=family, factory=factory)
