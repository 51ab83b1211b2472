"""Which Entra ID authority hosts are Microsoft's own.

Only those answer msal's instance discovery; any other host (a proxy, the sandbox) must skip it, or msal
asks the real login.microsoftonline.com about a host it does not know. Shared by the token provider
(msal) and the Key Vault credential (azure-identity) so both decide the same way.
"""

from __future__ import annotations

from urllib.parse import urlsplit

MICROSOFT_AUTHORITY_HOSTS = frozenset(
    {
        "login.microsoftonline.com",  # public cloud
        "login.microsoft.com",
        "login.microsoftonline.us",  # US Government
        "login.chinacloudapi.cn",  # operated by 21Vianet
        "login.partner.microsoftonline.cn",
    }
)


def is_microsoft_authority(authority: str) -> bool:
    """True for a Microsoft host, given as a URL (with or without a tenant path) or a bare host name."""
    host = urlsplit(authority if "://" in authority else f"https://{authority}").hostname or ""
    return host.lower() in MICROSOFT_AUTHORITY_HOSTS
