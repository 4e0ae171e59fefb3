"""FHIR R4 building blocks: code tables, resource mapping, the sync client and responder helpers.

Always the R4B models from ``fhir.resources`` (``fhir.resources.R4B.*``); the package's
default import is R5.
"""
