"""Django's MySQL/MariaDB backend with transactions begun by START TRANSACTION (ADR 75): ENGINE
``commerce_coordinator.apps.core.mysql``."""
