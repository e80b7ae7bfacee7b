"""Helpers, fixtures and builders the test tiers share (no tests here)."""
