"""Shared test data of the citizen tests (import as ``from citizendata import ...``)."""

# two adjacent squares around Jember's centre: Kaliwates (west) and Sumbersari (east)
KALIWATES = {
    "type": "Polygon",
    "coordinates": [[[113.64, -8.20], [113.69, -8.20], [113.69, -8.15], [113.64, -8.15], [113.64, -8.20]]],
}
SUMBERSARI = {
    "type": "Polygon",
    "coordinates": [[[113.69, -8.20], [113.74, -8.20], [113.74, -8.15], [113.69, -8.15], [113.69, -8.20]]],
}
IN_KALIWATES = (-8.17, 113.66)  # lat, lon
IN_SUMBERSARI = (-8.17, 113.71)
