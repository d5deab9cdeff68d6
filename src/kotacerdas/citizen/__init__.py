"""Citizen reports and public services.

Words: a *report* (laporan, an Open311 service request) is filed in a *category* (an Open311 service),
routed to an *office* (OPD) by the category and, optionally, the kecamatan (*area*) it is in. The region
admin *verifies* it and *disposes* it (disposisi) to the office, or *rejects* it; the office *accepts*
it, gives its follow-up (*responds*, tindak lanjut), and the reporter closes it or it closes itself when
the reporter does not answer. Every stage has a deadline in Indonesian working days (kit.workdays). The
*catalogue* lists the region's public services (Mal Pelayanan Publik).

This domain uses region and auth through their services; it must not import masterplan or hub.
"""
