"""Jinja templates for the Ekos files (.esl/.esq); data only, loaded by
ekos_occult.ekosfiles.render."""
