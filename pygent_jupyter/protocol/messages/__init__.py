"""Message specs, one module per domain. Each module exports ``MESSAGES``."""
