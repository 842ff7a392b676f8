"""ekos-occult: stellar-occultation timing with KStars/Ekos.

Nothing runs on import: no IERS download, no logging set-up, no bus connection.

The package follows the chain events -> plan -> Ekos files -> KStars/Ekos -> night -> video ->
reduce -> report, with views, the use cases and the command line beside it. Layers, low to high;
each may import only the ones it lists (``tests/test_layers.py`` checks every import, lazy and
type-only ones included, and that there is no import cycle):

- ``core`` (``errors``, ``model``, ``settings``, ``files``, ``clock``, ``utc``, ``sphere``)
  may import: nothing of ekos_occult.
- ``plan`` (events, sky geometry, visibility, the planner; pure) may import: core.
- ``video`` (SER files, their verification, disk space) may import: core.
- ``reduce`` (photometry, light curve, timing fit) may import: core, video.
- ``ekosfiles`` (names, formats, jobs, render and its check, night folder) may import: core, plan.
- ``report`` (IOTA-ES / Occult reports; pure) may import: core, plan, reduce, video.
- ``kstars`` (the only D-Bus code) may import: core, plan, ekosfiles.
- ``night`` (ports, records, supervisor, runner, journal, recorder) may import: core, plan,
  ekosfiles, kstars, video.
- ``views`` (tables and plots; pure) may import: core, plan, ekosfiles, night, video, reduce,
  report.
- ``app`` (one use case per subcommand) may import: core, plan, ekosfiles, kstars, night,
  video, reduce, report, views.
- ``cli`` (argument parsing and printing) may import: core, plan, ekosfiles, kstars, night,
  video, reduce, report, views, app.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
