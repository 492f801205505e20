"""One record per analysis stage of its settings: name, type, default, allowed values, help,
the output attribute recording each one and the workflow config key it corresponds to.

The command line's options (``losstopo.settings.cli``), the stages' validation and output
attributes, and the JSON-schema fragments (``losstopo.settings.schema``) are derived from
these records. Importing them loads no numerical library.
"""

from losstopo.settings.curvature import CurvatureSettings
from losstopo.settings.hessian import HessianSettings
from losstopo.settings.landscape import LandscapeSettings
from losstopo.settings.record import StageSettings
from losstopo.settings.setting import REQUIRED, Setting, SettingError
from losstopo.settings.topology import TopologySettings

__all__ = [
    "REQUIRED",
    "CurvatureSettings",
    "HessianSettings",
    "LandscapeSettings",
    "Setting",
    "SettingError",
    "StageSettings",
    "TopologySettings",
]
