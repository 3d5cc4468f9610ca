"""Settings of apps/demo_gateway: a stand-in for Stripe's and CloudPayments' charge APIs (local and tests)."""

import os

# Seconds every demo charge takes (the benchmark sets 0.05), and how long a "hang" card hangs.
DEMO_GATEWAY_LATENCY = float(os.environ.get("DEMO_GATEWAY_LATENCY", "0"))
DEMO_GATEWAY_HANG_SECONDS = float(os.environ.get("DEMO_GATEWAY_HANG_SECONDS", "30"))


def dev_server_url(var_dir) -> str:
    """Where this service's own dev server listens, so that a shell or worker beside it reaches its demo gateway.

    DEMO_GATEWAY_URL wins; then CC_DEV_SERVER_URL (the dev server gives it to its embedded worker); then
    the address the running `runserver` wrote to var/dev_server_url once bound (any port); else :8140.
    """
    for name in ("DEMO_GATEWAY_URL", "CC_DEV_SERVER_URL"):
        if os.environ.get(name):
            return os.environ[name].rstrip("/")
    try:
        return (var_dir / "dev_server_url").read_text().strip().rstrip("/") or "http://localhost:8140"
    except OSError:
        return "http://localhost:8140"
