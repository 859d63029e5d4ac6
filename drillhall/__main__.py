"""``python -m drillhall``: the same as the ``drillhall`` command."""

from drillhall.cli import main

main(prog_name="drillhall")
