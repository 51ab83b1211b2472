# Two Sentinel workspaces fed from one MISP; the second one can use the management API.
ms_auth = [
    {
        "tenant": "11111111-2222-3333-4444-555555555555",
        "client_id": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
        "client_secret": "first-secret-value",
        "workspace_id": "99999999-8888-7777-6666-555555555555",
    },
    {
        "tenant": "contoso.onmicrosoft.com",
        "client_id": "aaaaaaaa-bbbb-cccc-dddd-ffffffffffff",
        "client_secret": "second-secret-value",
        "workspace_id": "99999999-8888-7777-6666-444444444444",
        "new_upload_api": True,
        "subscription_id": "12121212-3434-5656-7878-909090909090",
        "resourceGroupName": "rg-soc",
        "workspaceName": "soc-west",
    },
]
misp_key = "multi-misp-key-value"
misp_domain = "https://misp.example.com/"
misp_verifycert = "ca.pem"
log_file = "logs/sync.log"
state_file = "state/sync.db"
