"""Tests of the troubleshooting reproductions, one file per area page."""
