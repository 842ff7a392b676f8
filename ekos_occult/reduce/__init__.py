"""From a recording to D and R: photometry, light curves, noise, the timing fit and the reduce use
case.

Layer: above ``video``. May import: the core modules and ``video``. Never ``plan``, ``kstars``,
``night``, ``views`` or ``cli``.
"""
