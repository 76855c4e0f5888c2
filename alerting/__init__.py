"""Alerting: rules over the analysis job's findings (``rules.py``, pure), the engine that
opens, updates and resolves alerts and sends their notifications (``engine.py``), and the
senders — signed webhook, SMTP, MQTT (``notify.py``)."""
