"""FastAPI service: routers per resource over the documented views. Being built (issue 6)."""
