"""Loss landscapes: directions normalised against θ (``directions``), the grid around θ
(``grid``), scattered samples beyond four dimensions (``scattered``) and the objective
evaluated at either (``evaluation``)."""
