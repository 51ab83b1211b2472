"""The MISP -> Microsoft Sentinel sync: MISP attributes become STIX 2.1 indicators Sentinel can match."""
