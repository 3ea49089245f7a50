"""Runners: QEMU, pyOCD (real board), Renode, and a fake for unit tests, behind one interface."""

from .base import Runner, register, require_usable, runner_class, runner_for

__all__ = ["Runner", "register", "require_usable", "runner_class", "runner_for"]
