"""What people see: tables, summaries, JSON documents and plots of a plan, predictions, a night and
a
reduction. Pure: each view returns text or PNG bytes; the command decides where it goes.

Layer: above every stage it shows. May import: the core modules, ``plan``, ``ekosfiles``, ``night``,
``video`` and ``reduce`` (records only). Never ``kstars`` or ``cli``.
"""
