"""The plan as Ekos files: job names, job specs, the scheduler list (.esl) and capture sequences
(.esq)
rendered from the Jinja templates and checked by parsing back, and the night folder that holds them.

Layer: above ``plan``. Rendering is pure (text in, text out); only ``nightfolder`` writes files,
through
``ekos_occult.files``. May import: the core modules and ``plan``. Never ``kstars``, ``night``,
``views``
or ``cli``.
"""
