"""The workflow's problems as plugins: what each problem adds to the study.

A problem of the workflow (the PINN study, the UNet-CRF study, your own models, or a problem
of yours) is one object registered with :func:`register`. It names its config section and
its path segment (``results/<name>/<run>/<ckpt>``), the Snakemake files of its own rules
(training, its metrics table), the analysis settings of its checkpoints, its topology tables,
figures and targets. The generic rules (hessian, curvature, landscape, topology, topology
tables, figures) loop over the registered problems through :class:`Study`; nothing in them
names a problem. Built-in problems register on import of :mod:`losstopo.workflow.problems`;
a problem module of yours (config ``problem_modules``) registers the same way.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from losstopo.registry import Registry
from losstopo.workflow.analysis_settings import AnalysisSettings
from losstopo.workflow.figure_specs import FigureSpec
from losstopo.workflow.paths import export_dir


@dataclass(frozen=True)
class TopologyTable:
    """A table of merge-tree summaries (``results/tables/<name>.csv``): its topology files
    and the options of ``losstopo topology-table``."""

    files: list[str]
    options: list[str] = field(default_factory=list)


class WorkflowProblem(Protocol):
    """What a problem adds to the workflow. Methods receive the whole validated config."""

    name: str
    """Config section and path segment of the problem's analysis directories."""

    rule_files: tuple[str, ...]
    """Snakemake files of the problem's own rules (absolute, or relative to the workflow's
    directory)."""

    schema: dict[str, Any] | None
    """JSON schema of the problem's config section (None: the workflow's schema has it)."""

    def enabled(self, config: dict[str, Any]) -> bool:
        """Whether the study runs this problem."""
        ...

    def errors(self, config: dict[str, Any]) -> list[str]:
        """Why a job of this problem would fail on the configured values, one line each."""
        ...

    def settings(self, config: dict[str, Any], run: str) -> AnalysisSettings:
        """The analysis settings of the checkpoints of ``run``."""
        ...

    def grid_dims(self, config: dict[str, Any]) -> set[int]:
        """Dimensions of the problem's grid landscapes (tiled when tiles > 1)."""
        ...

    def tables(self, config: dict[str, Any]) -> dict[str, TopologyTable]:
        """Topology tables by name."""
        ...

    def figures(self, config: dict[str, Any]) -> dict[str, FigureSpec]:
        """Figures by name (``results/figures/<name>.png``)."""
        ...

    def targets(self, config: dict[str, Any]) -> list[str]:
        """What the problem adds to the default target besides its tables and figures."""
        ...

    def with_curvature(self, config: dict[str, Any], directory: str) -> bool:
        """Whether the checkpoint analysed in ``directory`` gets a ``curvature.nc``."""
        ...


_REGISTRY: Registry[WorkflowProblem] = Registry("workflow problem")


def register(problem: WorkflowProblem) -> WorkflowProblem:
    """Add ``problem`` to the workflow (each name once)."""
    return _REGISTRY.add(problem)


def registered() -> list[WorkflowProblem]:
    """The registered problems, built-in ones first, then in order of registration."""
    import losstopo.workflow.problems  # noqa: F401  (registers the built-in problems)

    return _REGISTRY.values()


def load_problem_modules(specs: Iterable[str]) -> None:
    """Import the problem modules of config ``problem_modules`` (each registers once), so
    that the problems they register with the workflow plan their rules. A module that a job
    could not import either is left to the plan checks, which name every such entry."""
    from losstopo.errors import LosstopoError
    from losstopo.user_code import import_user_code
    from losstopo.workflow.models import python_source_error

    for index, spec in enumerate(specs):
        if python_source_error(spec, f"config.problem_modules[{index}]") is None:
            try:
                import_user_code(spec, f"config.problem_modules[{index}]", reuse=True)
            except LosstopoError as exc:
                raise ValueError(str(exc)) from None


def fill_defaults(value: Any, schema: dict[str, Any]) -> Any:
    """``value`` with the ``default`` of every absent property of ``schema`` filled in
    (recursively through objects), as the workflow's own schema validation does."""
    if schema.get("type") != "object" or not isinstance(value, dict):
        return value
    filled = dict(value)
    for key, sub in schema.get("properties", {}).items():
        if key not in filled and "default" in sub:
            filled[key] = sub["default"]
        if key in filled:
            filled[key] = fill_defaults(filled[key], sub)
    return filled


@dataclass
class Study:
    """The registered problems of one config: the plan the generic rules follow."""

    config: dict[str, Any]
    problems: dict[str, WorkflowProblem] = field(init=False)

    def __post_init__(self) -> None:
        self.problems = {problem.name: problem for problem in registered()}

    @staticmethod
    def own_sections(config: dict[str, Any]) -> dict[str, Any]:
        """Import the config's problem modules, then take out of ``config`` the sections of
        problems that bring their own schema, validated and with their defaults (the
        workflow's schema knows only the built-in sections; put them back after it)."""
        load_problem_modules(config.get("problem_modules") or [])
        sections = {}
        for problem in registered():
            if problem.schema is not None:
                section = config.pop(problem.name, {})
                check_section(section, problem.schema, problem.name)
                sections[problem.name] = fill_defaults(section, problem.schema)
        return sections

    def enabled(self) -> list[WorkflowProblem]:
        return [p for p in self.problems.values() if p.enabled(self.config)]

    def rule_files(self, basedir: str) -> list[str]:
        """Every problem's rule files (those of disabled problems too: their rules may be
        asked for by name), as absolute paths."""
        return [
            os.path.join(basedir, path)
            for problem in self.problems.values()
            for path in problem.rule_files
        ]

    def errors(self) -> list[str]:
        return [error for p in self.problems.values() for error in p.errors(self.config)]

    def settings(self, problem: str, run: str) -> AnalysisSettings:
        if problem not in self.problems:
            raise ValueError(f"no problem {problem!r} is registered with the workflow")
        return self.problems[problem].settings(self.config, run)

    def grid_dims(self) -> set[int]:
        return {dims for p in self.enabled() for dims in p.grid_dims(self.config)}

    def tables(self) -> dict[str, TopologyTable]:
        return {name: t for p in self.enabled() for name, t in p.tables(self.config).items()}

    def figures(self) -> dict[str, FigureSpec]:
        return {name: f for p in self.enabled() for name, f in p.figures(self.config).items()}

    def targets(self) -> list[str]:
        """The default target: every problem's own targets, tables and figures."""
        outputs = []
        for problem in self.enabled():
            outputs += problem.targets(self.config)
            outputs += [f"results/tables/{name}.csv" for name in problem.tables(self.config)]
            outputs += [f"results/figures/{name}.png" for name in problem.figures(self.config)]
        if self.config.get("export", {}).get("vtk"):
            files = [f for table in self.tables().values() for f in table.files]
            outputs += [export_dir(f) for f in files]
        return list(dict.fromkeys(outputs))

    def with_curvature(self, directory: str) -> bool:
        """Whether a checkpoint directory ``results/<problem>/...`` gets a curvature.nc."""
        problem = directory.split("/")[1]
        return self.problems[problem].with_curvature(self.config, directory)


def check_section(section: Any, schema: dict[str, Any], name: str) -> None:
    """Validate a problem's config section against its schema; one line naming the key."""
    import jsonschema

    from losstopo.workflow.config_file import config_key

    errors = sorted(
        jsonschema.Draft202012Validator(schema).iter_errors(section), key=lambda e: e.path
    )
    if errors:
        error = errors[0]
        key = config_key([name, *error.absolute_path])
        raise ValueError(f"{key}: {error.message}")
