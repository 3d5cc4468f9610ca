"""Settings of one app or concern each; settings/base.py imports them all (CC_SIGNALS stays in base.py)."""
