"""The utility-facing OpenADR 3 interface: the platform plays the VTN.

Served under ``/openadr3``: OAuth2 client-credentials tokens (``/auth/token``),
the OpenADR 3.1 discovery endpoint (``/auth/server``), ``programs`` and
``events``. A utility's token reaches only these endpoints and only its own
objects; its events may target only the sites its client names.
"""
