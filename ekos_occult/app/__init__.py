"""Use cases: one typed function per subcommand, called by :mod:`ekos_occult.cli`.

``cli`` parses arguments into the option dataclasses defined here and prints what the use case
returns; nothing here sees an ``argparse.Namespace`` or prints (a use case that reports progress
takes a ``say`` callback). The use cases put the lower layers together: read the events,
plan, render, talk to KStars, run the night.

Layer: the top but one (only ``cli`` is above). May import: the core modules, ``plan``,
``ekosfiles``, ``kstars``, ``night``, ``video``, ``reduce``, ``report`` and ``views``; never
``cli``.
"""
