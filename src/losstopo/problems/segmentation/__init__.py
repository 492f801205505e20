"""The UNet-CRF segmentation problem on Oxford-IIIT Pet (paper §4.2): the data (``pets``, and
a synthetic stand-in in ``synthetic_pets``), the network (``unet`` with the mean-field
``crf`` head), the loss and scores (``metrics``), the run configuration (``config``),
resumable training (``training``) and the registry entry that rebuilds the objective from a
checkpoint (``problem``, registered on import)."""

# importing the registry entry registers the problem
from losstopo.problems.segmentation import problem as _problem  # noqa: F401
