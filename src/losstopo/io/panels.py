"""The inputs of a profile panel, read from files: a merge tree (its ``topology.nc`` and the
landscape it was computed on) and what the panel's title says about its checkpoint (the files'
attributes, or a PINN run's ``metrics.json``). The figures draw from these data only."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from losstopo.errors import LosstopoError
from losstopo.io.topology_file import tree_from_files
from losstopo.topology.tree import MergeTree


@dataclass
class PanelInput:
    """A profile panel's data: its merge tree and the checkpoint's fields and metrics."""

    tree: MergeTree
    info: dict[str, Any] = field(default_factory=dict)


@dataclass
class Panel:
    """One profile panel: a run directory and a landscape dimension (``RUN_DIR:DIMS``), or
    a topology file whose ``source`` attribute names its landscape."""

    run: Path | None = None
    dims: int | None = None
    topology: Path | None = None

    @classmethod
    def parse(cls, text: str) -> Panel:
        if text.endswith(".nc"):
            return cls(topology=Path(text))
        run, _, dims = text.rpartition(":")
        if not run or not dims.isdigit():
            raise LosstopoError(f"panel {text!r} is not RUN_DIR:DIMS or a topology .nc file")
        return cls(Path(run), int(dims))

    def files(self) -> tuple[Path, Path, Path | None]:
        """Topology and landscape files, plus the run's ``metrics.json`` where one exists
        (PINN run directories); otherwise the metrics come from the files' attributes."""
        if self.topology is not None:
            if not self.topology.is_file():
                raise LosstopoError(f"{self.topology} does not exist")
            source = _file_attrs(self.topology).get("source")
            if not source:
                raise LosstopoError(
                    f"{self.topology} has no 'source' attribute naming its landscape"
                )
            return self.topology, Path(str(source)), None
        assert self.run is not None
        metrics = self.run / "metrics.json"
        return (
            self.run / f"topology_{self.dims}d.nc",
            self.run / f"landscape_{self.dims}d.nc",
            metrics if metrics.is_file() or (self.run / "model.pt").exists() else None,
        )


def _file_attrs(path: Path) -> dict[str, Any]:
    """Global attributes of a netCDF file, without loading its variables."""
    import xarray as xr

    try:
        with xr.open_dataset(path, engine="netcdf4") as handle:
            return dict(handle.attrs)
    except (OSError, ValueError) as exc:
        raise LosstopoError(f"{path} is not a readable netCDF file: {exc}") from None


def _json_attr(value: Any) -> dict:
    if isinstance(value, dict):
        return value
    if isinstance(value, str) and value:
        try:
            parsed = json.loads(value)
        except ValueError:
            return {}
        return parsed if isinstance(parsed, dict) else {}
    return {}


def panel_info(
    topology_attrs: dict[str, Any],
    landscape_attrs: dict[str, Any] | None = None,
    metrics: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """What a panel's title says, from the topology file's ``landscape_*`` attributes (a
    landscape's own attributes fill gaps; a run's ``metrics.json`` wins where given)."""
    carried = {
        key.removeprefix("landscape_"): value
        for key, value in topology_attrs.items()
        if key.startswith("landscape_")
    }
    attrs = {**(landscape_attrs or {}), **carried}
    hparams = _json_attr(attrs.get("problem_hparams"))
    checkpoint = _json_attr(attrs.get("checkpoint_metrics"))
    info: dict[str, Any] = {**hparams, **checkpoint}
    fields = _json_attr(attrs.get("run_fields"))
    if fields:
        info["fields"] = fields
        names = attrs.get("table_metrics")
        names = json.loads(names) if isinstance(names, str) and names else names or []
        info["metrics"] = {name: checkpoint[name] for name in names if name in checkpoint}
    if "checkpoint_seed" in attrs:
        info["seed"] = int(attrs["checkpoint_seed"])
    if "checkpoint_epoch" in attrs:
        info["epoch"] = int(attrs["checkpoint_epoch"])
    info.update(metrics or {})
    for key in ("dims", "distance", "layout", "sampling", "n_points"):
        if key in attrs:
            info[key] = attrs[key]
    info["connectivity"] = str(topology_attrs.get("connectivity", ""))
    return info


def read_panel(panel: Panel) -> PanelInput:
    """The merge tree and title information of one panel, with every file checked."""
    topology, landscape, metrics_path = panel.files()
    for path in (topology, landscape, metrics_path):
        if path is not None and not path.is_file():
            raise LosstopoError(f"{path} does not exist")
    tree = tree_from_files(topology, landscape)
    topology_attrs = _file_attrs(topology)
    metrics = json.loads(metrics_path.read_text()) if metrics_path is not None else None
    info = panel_info(topology_attrs, None, metrics)
    if metrics is None and "problem_hparams" not in info and "lr" not in info:
        info = panel_info(topology_attrs, _file_attrs(landscape), None)  # older topologies
    return PanelInput(tree, info)
