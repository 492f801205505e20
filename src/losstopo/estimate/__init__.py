"""Predict the wall time of a configured study before launching it.

The jobs are the workflow's own plan (``plan``: a Snakemake dry run of the same configs,
checked first by ``config``; ``commands`` and ``study``: each job's ``losstopo`` calls parsed
by the command line's parser, and the links between jobs). Each job is costed (``costs``)
from rates (``rates``) that probes measure by running its own command small on this machine
(``probes``, through ``workspace``), and the jobs are scheduled on the cores (``schedule``)
to give the wall time (``prediction``, ``report``). ``command`` is ``losstopo estimate``.
"""
