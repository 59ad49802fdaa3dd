"""What users ask of their price history: the one layer that reads through ``storage`` and computes
with ``analysis``. Every page, its JSON twin and every export call these same functions.

``params`` parses and checks what a request asks for (windows, metrics, pairs) without touching
the database; the other modules answer one resource each. Bad input raises ``errors.BadRequest``
naming the parameter, an unknown name ``errors.NotFound``, too few points a plain ValueError.
"""
