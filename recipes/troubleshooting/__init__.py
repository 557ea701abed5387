"""Troubleshooting reproductions: one module per area page of docs/reference/troubleshooting/."""
