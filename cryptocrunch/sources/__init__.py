"""The only place that knows exchange wire formats: payloads in, validated frozen types out.

Import the module you need (``sources.base`` for the types, ``sources.exchange`` for ccxt,
``sources.coingecko``): importing this package loads neither ccxt nor requests.
"""
