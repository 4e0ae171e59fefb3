"""The intake sources: the watched folder and the IMAP mailbox (the API is in apps.inbox.api)."""
