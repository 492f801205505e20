"""Files: atomic writes, netCDF, checkpoints, provenance, tables and the file contracts of
the stages (``hessian.nc``, ``landscape.nc``, ``topology.nc``)."""
