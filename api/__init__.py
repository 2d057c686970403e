"""The HTTP front door: FastAPI routers by resource, API-key roles, request/response schemas."""
