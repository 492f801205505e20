"""Hessians of an objective: exact Hessian-vector products (``operator``) and the
eigen-solvers that find its top-k eigenpairs from them (``solvers``)."""
