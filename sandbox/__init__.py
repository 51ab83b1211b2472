"""Local HTTPS stand-ins for MISP, Entra ID, Sentinel and Key Vault, used by tests, the demo and benchmarks.

They follow docs/contracts.md: the status codes, bodies and quirks the real services show. They listen
on loopback only and use a throw-away certificate authority (trustme).
"""
