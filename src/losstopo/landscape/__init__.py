"""Loss landscapes: directions normalised against θ (``directions``), the grid around θ
(``grid``), scattered samples beyond four dimensions (``scattered``) and the objective
evaluated at either (``evaluation``)."""

# memory for one batched evaluation call, in MiB: sets how many points go into one call
DEFAULT_MEMORY_BUDGET_MB = 512.0
