"""A small Kubernetes API client built on http.client and ssl: credentials, JSON requests, watch streams."""
