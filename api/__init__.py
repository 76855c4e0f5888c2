"""The FastAPI service (``jieneng api``): the registry, readings and consumption, findings,
alerts, audits, M&V and EMC settlements, each scoped to the caller's institutions.

``main.py`` assembles the app and its lifespan, ``deps.py`` holds the dependencies (the
database connection, the caller), ``routers/`` one module per resource.
"""
