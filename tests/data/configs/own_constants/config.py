# A config next to its own constants.py (which only sets two names).
ms_auth = {
    "tenant": "11111111-2222-3333-4444-555555555555",
    "client_id": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
    "client_secret": "own-secret-value",
    "workspace_id": "99999999-8888-7777-6666-555555555555",
}
misp_key = "own-misp-key-value"
misp_domain = "https://misp.example.com"
