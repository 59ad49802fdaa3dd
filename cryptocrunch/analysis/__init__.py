"""Pure analysis: arrays and pandas objects in, numbers out. Nothing here imports Flask or the
database; too few points raises ``ValueError`` with a message the views turn into a 4xx."""
