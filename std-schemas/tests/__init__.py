"""Tests for the sluice Python package (stdlib unittest only)."""
