"""Benchmarks of gputrack against ilastik's own engines (fastfilters2, vigra) and peers.

:mod:`~gputrack.benchmarks.engines` times the stages, :mod:`~gputrack.benchmarks.peers`
finds and runs the peers (vigra in the system Python), :mod:`~gputrack.benchmarks.report`
writes the table, JSON, plot and the README section. ``gputrack bench`` and
``bench/ilastik_engines.py`` call them.
"""
