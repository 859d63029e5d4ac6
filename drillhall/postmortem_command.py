"""Postmortem drafts (being built)."""

from __future__ import annotations

import click


@click.group("postmortem")
def postmortem() -> None:
    """(being built)"""
