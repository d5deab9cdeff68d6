"""Region: the Pemda (tenant), its areas (kecamatan, kelurahan/desa) and offices (OPD).

Words: region = Pemda kabupaten/kota, identified by its Kemendagri code (``35.09``); area = an
administrative area inside it with a polygon; office = an OPD (Dishub, Dinkes, DLH...).
Imports only ``kit`` and ``db``; other domains use it through ``region.service``.
"""
