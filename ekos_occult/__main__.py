"""`python -m ekos_occult` hands off to the command line."""

from ekos_occult.cli import main

raise SystemExit(main())
