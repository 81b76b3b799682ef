"""Where model versions come from: Event Grid pushes (and, later, registry polls)."""
