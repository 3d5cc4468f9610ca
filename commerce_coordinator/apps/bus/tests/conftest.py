from .support import bus_queue  # noqa: F401  (the fixture: a fresh queue on the real RabbitMQ)
