"""Rules for identifiers that cross app boundaries, so that every entry point accepts the same ones.

An order number is accepted by the webhook path (lms.fulfillment.record_order) exactly when the order
API can show it (issue 9, item 9): letters, digits and . _ : - , at most 128, starting with a letter
or digit. No e-mail address, no spaces, nothing that needs escaping in a URL.
"""

import re

ORDER_NUMBER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}\Z")
ORDER_NUMBER_RULE = "letters, digits and . _ : - only, at most 128, starting with a letter or digit"


def is_order_number(value) -> bool:
    """True when `value` is a string that follows the one order-number rule."""
    return isinstance(value, str) and ORDER_NUMBER.match(value) is not None
