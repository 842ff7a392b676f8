"""The unattended night: the ports the supervisor acts through, the job records, the pure transition
function, the async runner, the journal, the recorder and the Ekos port on a real KStars.

Layer: above ``kstars`` and ``video``. May import: the core modules, ``plan``, ``ekosfiles``,
``kstars`` and ``video``. Never ``reduce``, ``views`` or ``cli``.
"""
