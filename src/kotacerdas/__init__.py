"""kotacerdas: a smart-city platform for Indonesian regional governments (Pemda).

Pillars (one package each): framework, region, auth, masterplan; later evaluation, hub, citizen, parking.
A domain talks to another only through that domain's ``service`` module.
"""

__version__ = "0.1.0"
