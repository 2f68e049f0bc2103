"""The MCP endpoint: JSON-RPC over Streamable HTTP at /mcp, guarded like the REST API.

protocol.py speaks the protocol (versions, methods, errors), tools.py holds the
tools and the scope each needs, views.py is the HTTP edge (Origin, Bearer
authentication, RFC 9728 metadata). See docs/mcp.md.
"""
