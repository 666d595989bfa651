"""The service loop: volunteers, service requests (点单), dispatch (派单), accept (接单)."""
