"""Test helpers shared by the suites: real servers on loopback and their pytest fixtures."""
