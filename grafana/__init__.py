"""Grafana dashboards as code and provisioning. Being built (issue 7)."""
