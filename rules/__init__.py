"""Trust signals, per-brand policy, scoring and explanations, and building the daily queue."""
