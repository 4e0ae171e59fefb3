"""Services of the inbox: receiving items (intake), recording scans."""
