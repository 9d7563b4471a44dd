"""Mailed response forms: intake of uploaded files, decoding within limits, who reads
the pages (this process, the worker, Celery), the OCR job, where a read page ends,
the exception queue, the watched inbox, and the reasons in plain words."""
