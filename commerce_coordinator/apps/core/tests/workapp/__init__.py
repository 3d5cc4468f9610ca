"""A test-only app with a concrete durable work item, so core's tests exercise core.durable on its own."""
