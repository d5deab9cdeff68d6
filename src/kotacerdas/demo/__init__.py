"""Demo: made-up but plausible data for trying kotacerdas, and the ``kotacerdas demo`` command.

Words: demo data = the JSON files in ``data/`` (Kabupaten Jember with two masterplans, Kota Probolinggo
and Kabupaten Jombang with one each, approximate kecamatan polygons, demo accounts sharing one
password); loader = enters them through the domain services exactly as a region admin would, so
the demo exercises the same rules as real data. Regions it creates carry ``is_demo`` so every page
shows the demo banner.
Imports ``region``, ``auth`` and ``masterplan`` through their services only; nothing imports ``demo``.
"""
