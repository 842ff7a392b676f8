"""Events in, the night's plan out: the events CSV and occelmnt sources, the sky geometry,
visibility
and the planner.

Layer: the pure planning core. It does no I/O, opens no socket, reads no clock ("now" is passed in).
May import: the standard library, numpy/astropy/erfa, and ``ekos_occult.errors``, ``.model``,
``.settings``. Never ``kstars``, ``night``, ``ekosfiles``, ``views`` or ``cli``.
"""
