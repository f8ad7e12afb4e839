"""Publishing as an NFT: content addressing (UnixFS, CIDs, CARs), ERC-721 metadata, IPFS backends
with retries and CID verification, and the SQLite publish ledger. requests + stdlib only (no bpy)."""
