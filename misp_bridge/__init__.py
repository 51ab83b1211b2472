"""misp-bridge: Pandora FMS -> MISP alert plugin and MISP -> Microsoft Sentinel sync."""

__version__ = "0.1.0"
