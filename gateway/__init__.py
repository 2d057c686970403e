"""The OCPP-J edge: sockets, authentication, validation and translation to domain events."""
