#!/usr/bin/env bash
# Installs the MCP servers the tests run against, pinned, under target/ (not committed):
# - the reference @modelcontextprotocol/server-everything from the npm registry (stdio), into
#   target/mcp (needs Node.js and npm);
# - the official Python SDK from PyPI (`mcp`), into the venv target/mcp-py, which serves
#   tests/fixtures/mcp/http_server.py over streamable HTTP on 127.0.0.1.
# The tests call this when a server is missing, and .ci/run calls it first.
set -euo pipefail
cd "$(dirname "$0")/.."
PY_MCP=1.30.0
if ! target/mcp-py/bin/python -c "import mcp, importlib.metadata as m; assert m.version('mcp') == '$PY_MCP'" 2>/dev/null; then
  python3 -m venv target/mcp-py
  target/mcp-py/bin/pip install --quiet --disable-pip-version-check "mcp==$PY_MCP" >&2
fi
VERSION=2026.8.31
DIR=target/mcp
ENTRY=$DIR/node_modules/@modelcontextprotocol/server-everything/dist/index.js
if [ -f "$ENTRY" ] && grep -q "\"version\": \"$VERSION\"" "$DIR/node_modules/@modelcontextprotocol/server-everything/package.json"; then
  exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
  echo "installing Node.js and npm for the MCP tests" >&2
  (apt-get update -qq && apt-get install -y -qq nodejs npm) >/dev/null
fi
mkdir -p "$DIR"
npm install --prefix "$DIR" --no-audit --no-fund --silent "@modelcontextprotocol/server-everything@$VERSION" >&2
test -f "$ENTRY"
