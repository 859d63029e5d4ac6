"""Drill reports (being built)."""

from __future__ import annotations

import click


@click.group("report")
def report() -> None:
    """(being built)"""
