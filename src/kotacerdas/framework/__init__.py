"""Framework: Kominfo's Gerakan Menuju Smart City model as data, versioned by edition.

Words: edition = one published set of dimensions and elements (``gmsc-2024``); dimension = one of the
six (governance, branding, economy, living, society, environment); element = one of its three parts;
readiness pillar = struktur, infrastruktur, suprastruktur. Editions are JSON files in ``editions/``;
a region chooses the edition in force. Imports nothing but ``kit`` and ``errors``.
"""
