"""Grafana: the dashboards as code (``dashboards.py``, grafanalib), Grafana's SQL macros as
Grafana expands them (``macros.py``, for the tests and the benchmark), the provisioning tree
and a push through Grafana's HTTP API (``provision.py``; ``jieneng grafana``)."""
