"""koji-mcp: the service as an MCP server (tools, resources, a prompt) for AI
assistants, a client of the service's own gRPC API, with the OAuth 2.1
authorization server that remote assistants sign in through."""
