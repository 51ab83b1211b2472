# Fails while running: a name used before it is defined.
misp_key = "raises-misp-key-value"
misp_domain = "https://misp.example.com"
ms_auth = make_workspace()
