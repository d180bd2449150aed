"""The agent's HTTP API (Octavia amphora agent API 1.0), one module per group of routes."""
