"""Servers of our own on 127.0.0.1 that speak the real protocols, so tests run the real clients."""
