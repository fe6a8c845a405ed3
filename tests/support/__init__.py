"""Helpers shared by several test modules (no tests here): test modules import
from tests.support, tests.harness and friends, never from one another."""
