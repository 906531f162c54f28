#!/usr/bin/env bash
# Installs the reference MCP server the tests run against: @modelcontextprotocol/server-everything
# from the npm registry, pinned, into target/mcp (not committed). Needs Node.js and npm; the tests
# call this when the server is missing, and .ci/run calls it first.
set -euo pipefail
cd "$(dirname "$0")/.."
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
