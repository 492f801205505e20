"""Loss landscapes: directions normalised against θ (``directions``), the grid around θ
(``grid``) and the objective evaluated on it (``evaluation``)."""
