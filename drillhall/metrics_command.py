"""Trends of incident history (being built)."""

from __future__ import annotations

import click


@click.group("metrics")
def metrics() -> None:
    """(being built)"""
