"""The paper's claims decided from the workflow's tables: effects, bootstrap intervals over
seeds, and verdicts by a stated rule (:mod:`~losstopo.claims.verdict`)."""
