"""KStars and Ekos over D-Bus: the only package that speaks D-Bus (and the INDI wire protocol).

The client (one typed async method per Ekos call), method signatures and states of each KStars
version, Ekos signals, the readiness checks, loading a night into the scheduler, and the sandbox
(a real headless KStars with the INDI simulators).

Layer: the KStars edge. May import: the core modules, ``plan`` (records only) and ``ekosfiles``.
Never ``night``, ``video``, ``reduce``, ``views`` or ``cli``.
"""
