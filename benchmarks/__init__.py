"""Speed and memory benchmarks of the course against a textbook baseline (not part of the package).

Run ``python benchmarks/run.py`` (or ``python -m benchmarks``); see ``benchmarks/README.md``.
"""
