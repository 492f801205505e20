"""The convection PINN problem (paper §4.1): the PDE and its loss (``physics``), the network
(``mlp``), the run configuration (``config``), training (``training``) and the registry
entry that rebuilds the objective from a checkpoint (``problem``, registered on import)."""

# importing the registry entry registers the problem
from losstopo.problems.convection import problem as _problem  # noqa: F401
