"""Masterplan: a region's smart-city masterplan (rencana induk) with its programmes and indicators.

Words: masterplan = the plan for a period of 5 to 10 years; programme = what an OPD will do, placed in
a dimension and element of the framework edition; quick win = a programme citizens should feel within
a year; indicator = a measured value with baseline, yearly targets and realisations; evidence = a file
or URL behind a realisation (data dukung); achievement = realisation against target (docs/achievement.md).
Imports ``framework.service``, ``region.service``, ``auth`` (principals and access checks) and
``citizen.figures`` (the figures an indicator's realisations may be computed from) only.
"""
