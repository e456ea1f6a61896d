"""The ``campwatch`` command line: ``main`` groups one command per stage (see :mod:`.main`).

The console script's entry point is :func:`main` here; it imports the command group only when
called, so importing a single command module does not load every other one.
"""


def main() -> None:
    """Run the ``campwatch`` command line (the console script's entry point)."""
    from pipeline.cli.main import main as _main

    _main()
