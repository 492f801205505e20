"""The workflow's built-in problems: the PINN study, the UNet-CRF study and your own models
(config ``models``). Importing this package registers them, in that order."""

import importlib

BUILT_IN = ("pinn", "unet", "models")

for _name in BUILT_IN:
    importlib.import_module(f"losstopo.workflow.problems.{_name}")
