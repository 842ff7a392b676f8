"""One module per subcommand. Each defines ``NAME``, ``HELP``, ``add_arguments(parser)`` and
``run(args, settings) -> int``, imports heavy libraries lazily inside ``run`` (so ``--help`` and
light commands start fast) and does no work at import.
"""

COMMANDS = ("sandbox", "plan", "render", "load", "run", "check", "reduce", "predictions")
