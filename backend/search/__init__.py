"""Search methods over a program's discrete and continuous parameters and the object's pose.

``mcts`` (the paper's method), ``genetic`` (its second version), ``coordinate_descent``
(the reference implementation's released baseline) and ``exhaustive`` (the oracle for
small spaces) share :mod:`backend.search.base` and the batched refinement in
:mod:`backend.search.refine`.
"""
