"""``flask export``: ticks, candles, statistics, rankings, order books and listing overlap as CSV or
Parquet, to a folder or to S3.

Nothing is exported unless asked: ``flask export WHAT`` for one export, or the specs listed in the
``EXPORTS`` setting, which ``flask collect`` runs after each cycle. ``specs`` checks what an export
asks for (light: the settings use it), ``frames`` builds the rows from the same ``insights``
functions as the API (a file and the JSON for the same filters hold the same values), ``files``
writes them locally or to S3, ``command`` ties them together.
"""
