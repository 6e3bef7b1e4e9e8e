"""The Master publisher: NETCONF server, datastores, subscription service."""
