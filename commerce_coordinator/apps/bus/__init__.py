"""Admin-panel commands over RabbitMQ: each JSON message becomes a coordinator signal, exactly once (ADR 0060)."""
