"""Incidents and action items in the history store (being built)."""

from __future__ import annotations

import click


@click.group("incident")
def incident() -> None:
    """(being built)"""


@click.group("actions")
def actions() -> None:
    """(being built)"""
