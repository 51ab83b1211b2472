# A config.py as the original misp2sentinel README shows it, filled in: no setting of misp-bridge's own.
ms_auth = {
    'tenant': '11111111-2222-3333-4444-555555555555',
    'client_id': 'aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee',
    'client_secret': 'orig-client-secret-value',
    'new_upload_api': True,
    'scope': 'https://management.azure.com/.default',
    'workspace_id': '99999999-8888-7777-6666-555555555555',
}
ms_api_version = "2024-02-01-preview"
ms_delete_api_version = "2025-09-01"
ms_max_indicators_request = 100     # Maximum indicators per request (max 100)
ms_max_requests_minute = 100        # Maximum requests per minute (max 100)

misp_key = 'orig-misp-key-value'
misp_domain = 'https://misp.example.com'
misp_verifycert = False

misp_event_filters = {
    "published": 1,
    "tags": [ "workflow:state=\"complete\""],
    "enforceWarninglist": True,
    "includeEventTags": True,
    "publish_timestamp": "14d",
}
misp_event_limit_per_page = 500

days_to_expire = 50
days_to_expire_start = "valid_from"   # "valid_from" or "current_date"
days_to_expire_mapping = {
    "ipv4-addr": 1,
    "ipv6-addr": 1,
    "domain-name": 1,
    "url": 1,
    "file:hashes": 1,
}
days_to_expire_ignore_misp_last_seen = True
default_confidence = 50

sourcesystem = "MISP"
verbose_log = False
log_file = "misp2sentinel.log"
dry_run = False
write_parsed_indicators = False
write_parsed_eventid = False
sentinel_write_response = False
remove_pipe_from_misp_attribute = True
ignore_localtags = True
misp_flatten_attributes = True
misp_remove_eventreports = True
timeframe_toids_change = "1d"
ms_useragent = "MISP-1.0"
ms_check_if_exist_in_sentinel = False
